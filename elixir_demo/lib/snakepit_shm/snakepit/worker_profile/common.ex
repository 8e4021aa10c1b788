defmodule SnakepitShm.Snakepit.WorkerProfile.Common do
  @moduledoc false
  # The callbacks both profiles implement the same way, on SnakepitShm.Snakepit.Worker.

  alias SnakepitShm.Error
  alias SnakepitShm.Snakepit.Worker

  @health_timeout_ms 5_000

  @spec start(map(), pos_integer() | nil) :: {:ok, pid()} | {:error, Error.t()}
  def start(config, threads) do
    Worker.start(
      id: Map.fetch!(config, :id),
      threads: threads,
      owner: Map.get(config, :owner),
      python: Map.get(config, :python),
      python_path: Map.get(config, :python_path),
      stderr_path: Map.get(config, :stderr_path),
      env: Map.get(config, :adapter_env, []),
      start_timeout_ms: Map.get(config, :start_timeout_ms, 15_000)
    )
  end

  @spec load(pid()) :: non_neg_integer()
  def load(worker), do: Worker.info(worker).load

  @spec health(pid()) :: :ok | {:error, Error.t()}
  def health(worker) do
    case Worker.execute(worker, %{"op" => "ping"}, @health_timeout_ms) do
      {:ok, _fields} -> :ok
      {:error, _} = error -> error
    end
  end

  @spec metadata(pid()) :: {:ok, map()} | {:error, Error.t()}
  def metadata(worker) do
    {:ok, Worker.info(worker)}
  catch
    :exit, reason ->
      Error.new(:platform_error, "the worker is gone: #{inspect(reason, limit: 10)}")
  end
end

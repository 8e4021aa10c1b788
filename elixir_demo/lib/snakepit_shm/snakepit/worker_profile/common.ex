defmodule SnakepitShm.Snakepit.WorkerProfile.Common do
  @moduledoc false
  # The callbacks both profiles implement the same way, on SnakepitShm.Snakepit.Worker.
  # `use SnakepitShm.Snakepit.WorkerProfile.Common` declares the behaviour and defines
  # them; a profile adds `start_worker/1` and `get_capacity/1`.

  alias SnakepitShm.Error
  alias SnakepitShm.Snakepit.Worker

  @health_timeout_ms 5_000

  defmacro __using__(_opts) do
    quote do
      @behaviour SnakepitShm.Snakepit.WorkerProfile

      @impl true
      def stop_worker(worker), do: SnakepitShm.Snakepit.Worker.stop(worker)

      @impl true
      def execute_request(worker, request, timeout),
        do: SnakepitShm.Snakepit.Worker.execute(worker, request, timeout)

      @impl true
      def get_load(worker), do: SnakepitShm.Snakepit.WorkerProfile.Common.load(worker)

      @impl true
      def health_check(worker), do: SnakepitShm.Snakepit.WorkerProfile.Common.health(worker)

      @impl true
      def get_metadata(worker), do: SnakepitShm.Snakepit.WorkerProfile.Common.metadata(worker)
    end
  end

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

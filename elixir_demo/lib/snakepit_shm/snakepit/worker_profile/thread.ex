defmodule SnakepitShm.Snakepit.WorkerProfile.Thread do
  @moduledoc """
  The `:thread` worker profile (Snakepit's `Snakepit.WorkerProfile.Thread`): each worker
  is one Python process started with `--threads threads_per_worker`, serving that many
  requests at once on threads that share one attachment cache — one mapping per segment
  for all of them. Requests carry a `req` number and replies may come back in any order
  (`SnakepitShm.Snakepit.Worker`). numpy releases the GIL in its loops, so the threads
  compute in parallel; the Python code they run must be thread-safe.
  """

  @behaviour SnakepitShm.Snakepit.WorkerProfile

  alias SnakepitShm.Snakepit.Worker
  alias SnakepitShm.Snakepit.WorkerProfile.Common

  @impl true
  def start_worker(config), do: Common.start(config, Map.fetch!(config, :threads_per_worker))

  @impl true
  def stop_worker(worker), do: Worker.stop(worker)

  @impl true
  def execute_request(worker, request, timeout), do: Worker.execute(worker, request, timeout)

  @impl true
  def get_capacity(worker), do: Worker.info(worker).capacity

  @impl true
  def get_load(worker), do: Common.load(worker)

  @impl true
  def health_check(worker), do: Common.health(worker)

  @impl true
  def get_metadata(worker), do: Common.metadata(worker)
end

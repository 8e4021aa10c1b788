defmodule SnakepitShm.Snakepit.WorkerProfile.Thread do
  @moduledoc """
  The `:thread` worker profile (Snakepit's `Snakepit.WorkerProfile.Thread`): each worker
  is one Python process started with `--threads threads_per_worker`, serving that many
  requests at once on threads that share one attachment cache — one mapping per segment
  for all of them. Requests carry a `req` number and replies may come back in any order
  (`SnakepitShm.Snakepit.Worker`). numpy releases the GIL in its loops, so the threads
  compute in parallel; the Python code they run must be thread-safe.
  """

  use SnakepitShm.Snakepit.WorkerProfile.Common

  alias SnakepitShm.Snakepit.Worker
  alias SnakepitShm.Snakepit.WorkerProfile.Common

  @impl true
  def start_worker(config), do: Common.start(config, Map.fetch!(config, :threads_per_worker))

  @impl true
  def get_capacity(worker), do: Worker.info(worker).capacity
end

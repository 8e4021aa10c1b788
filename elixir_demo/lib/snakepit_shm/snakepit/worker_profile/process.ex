defmodule SnakepitShm.Snakepit.WorkerProfile.Process do
  @moduledoc """
  The `:process` worker profile (Snakepit's `Snakepit.WorkerProfile.Process`): each
  worker is its own Python process (`python3 -u -m snakepit_shm.worker`) serving one
  request at a time. Workers are isolated: one that crashes takes only its own request
  with it. Each process maps a segment once and serves every region in it from that
  mapping, so with session affinity a session's regions stay mapped in the worker that
  serves it.
  """

  @behaviour SnakepitShm.Snakepit.WorkerProfile

  alias SnakepitShm.Snakepit.Worker
  alias SnakepitShm.Snakepit.WorkerProfile.Common

  @impl true
  def start_worker(config), do: Common.start(config, nil)

  @impl true
  def stop_worker(worker), do: Worker.stop(worker)

  @impl true
  def execute_request(worker, request, timeout), do: Worker.execute(worker, request, timeout)

  @impl true
  def get_capacity(_worker), do: 1

  @impl true
  def get_load(worker), do: Common.load(worker)

  @impl true
  def health_check(worker), do: Common.health(worker)

  @impl true
  def get_metadata(worker), do: Common.metadata(worker)
end

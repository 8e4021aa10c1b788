defmodule SnakepitShm.Snakepit.WorkerProfile.Process do
  @moduledoc """
  The `:process` worker profile (Snakepit's `Snakepit.WorkerProfile.Process`): each
  worker is its own Python process (`python3 -u -m snakepit_shm.worker`) serving one
  request at a time. Workers are isolated: one that crashes takes only its own request
  with it. Each process maps a segment once and serves every region in it from that
  mapping, so with session affinity a session's regions stay mapped in the worker that
  serves it.
  """

  use SnakepitShm.Snakepit.WorkerProfile.Common

  alias SnakepitShm.Snakepit.WorkerProfile.Common

  @impl true
  def start_worker(config), do: Common.start(config, nil)

  @impl true
  def get_capacity(_worker), do: 1
end

defmodule SnakepitShm.OperationsTest do
  # Not async: :gc deallocates unreferenced regions at once (also those still in their
  # grace period), which would disturb the grace-period timing of concurrent tests.
  use ExUnit.Case, async: false

  alias SnakepitShm.TestNode

  setup do
    %{server: TestNode.server()}
  end

  test "stats, health and ping answer", %{server: server} do
    assert {:ok, %{regions: regions, calls: %{}, errors: %{}}} = SnakepitShm.stats(server)
    assert is_integer(regions)
    assert {:ok, %{status: status, checks: [_ | _]}} = SnakepitShm.health(server)
    assert status in [:ok, :degraded, :failing]
    assert {:ok, %{node: ^server, pid: os_pid}} = SnakepitShm.ping(server)
    assert is_integer(os_pid)
  end

  test "gc reports what it did and leaves held regions alone", %{server: server} do
    {:ok, held} = SnakepitShm.allocate(server, 128, label: "gc-held")

    assert {:ok, %{deallocated: _, os_pid_holders_dropped: _, segments_released: _}} =
             SnakepitShm.gc(server)

    assert {:ok, %{refcount: 1}} = SnakepitShm.info(server, held.id)
    :ok = SnakepitShm.release(server, held.id)
  end
end

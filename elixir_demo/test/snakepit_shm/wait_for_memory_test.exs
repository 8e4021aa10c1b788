defmodule SnakepitShm.WaitForMemoryTest do
  # Not async: it lowers the per-tenant budget (only this test's tenant allocates under it).
  use ExUnit.Case, async: false

  alias SnakepitShm.TestNode

  setup do
    server = TestNode.server()
    {:ok, config} = SnakepitShm.config(server)

    on_exit(fn ->
      {:ok, _} = SnakepitShm.config_set(server, %{max_tenant_bytes: config.max_tenant_bytes})
    end)

    {:ok, _} = SnakepitShm.config_set(server, %{max_tenant_bytes: 1_000_000})
    %{server: server, tenant: TestNode.unique("wait")}
  end

  test "an allocation that asks to wait gets the memory once another region is freed",
       %{server: server, tenant: tenant} do
    {:ok, first} = SnakepitShm.allocate(server, 800_000, tenant: tenant)

    assert {:error, %{code: :limit_exceeded, details: %{limit_name: :max_tenant_bytes}}} =
             SnakepitShm.allocate(server, 500_000, tenant: tenant)

    parent = self()

    waiter =
      spawn_link(fn ->
        started = System.monotonic_time(:millisecond)
        reply = SnakepitShm.allocate(server, 500_000, tenant: tenant, wait_ms: 3_000)
        send(parent, {:waited, reply, System.monotonic_time(:millisecond) - started})
        Process.sleep(:infinity)
      end)

    Process.sleep(300)
    refute_received {:waited, _, _}
    released_at = System.monotonic_time(:millisecond)
    :ok = SnakepitShm.release(server, first.id, tenant: tenant)

    assert_receive {:waited, {:ok, %{size: 500_000}}, waited_ms}, 3_000
    assert waited_ms >= 300
    assert System.monotonic_time(:millisecond) - released_at < 2_000
    Process.exit(waiter, :kill)
  end

  test "a wait that runs out answers the shortage and how long it waited",
       %{server: server, tenant: tenant} do
    {:ok, _held} = SnakepitShm.allocate(server, 900_000, tenant: tenant)

    assert {:error,
            %{
              code: :limit_exceeded,
              details: %{waited_ms: waited_ms, limit_name: :max_tenant_bytes}
            }} = SnakepitShm.allocate(server, 500_000, tenant: tenant, wait_ms: 400)

    assert waited_ms >= 400
  end

  test "a request that can never fit does not wait", %{server: server, tenant: tenant} do
    {:ok, %{max_region_bytes: max}} = SnakepitShm.config(server)

    assert {:error, %{code: :limit_exceeded, details: %{limit_name: :max_region_bytes}}} =
             SnakepitShm.allocate(server, max + 1,
               tenant: tenant,
               wait_ms: 5_000,
               timeout_ms: 1_000
             )
  end
end

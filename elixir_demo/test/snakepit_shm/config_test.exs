defmodule SnakepitShm.ConfigTest do
  # Not async: it changes the node's grace period, which other tests time against.
  use ExUnit.Case, async: false

  alias SnakepitShm.TestNode

  setup do
    server = TestNode.server()
    {:ok, config} = SnakepitShm.config(server)
    on_exit(fn -> {:ok, _} = SnakepitShm.config_set(server, %{grace_ms: config.grace_ms}) end)
    %{server: server, config: config}
  end

  test "get returns the documented keys", %{config: config} do
    assert %{
             grace_ms: grace_ms,
             max_total_bytes: _,
             max_holder_bytes: _,
             max_regions: _,
             zero_on_free: zero_on_free
           } = config

    assert is_integer(grace_ms)
    assert zero_on_free in [:sensitive, :always, :never]
  end

  test "a new grace_ms takes effect at once", %{server: server} do
    assert {:ok, %{grace_ms: 600}} = SnakepitShm.config_set(server, %{grace_ms: 600})
    assert {:ok, %{grace_ms: 600}} = SnakepitShm.config(server)

    {:ok, region} = SnakepitShm.allocate(server, 256, label: "grace")
    released_at = System.monotonic_time(:millisecond)
    :ok = SnakepitShm.release(server, region.id)

    Process.sleep(300)
    assert {:ok, %{refcount: 0}} = SnakepitShm.info(server, region.id)
    assert TestNode.await_gone(region.id, released_at) >= 600
  end

  test "acquiring during the grace period cancels the deallocation", %{server: server} do
    {:ok, _} = SnakepitShm.config_set(server, %{grace_ms: 400})
    {:ok, region} = SnakepitShm.allocate(server, 256, label: "revive")
    :ok = SnakepitShm.release(server, region.id)

    assert {:ok, _} = SnakepitShm.acquire(server, region)
    Process.sleep(600)
    assert {:ok, %{refcount: 1}} = SnakepitShm.info(server, region.id)
    :ok = SnakepitShm.release(server, region.id)
  end

  test "a bad key or value changes nothing", %{server: server, config: config} do
    assert {:error, %{code: :invalid_request}} =
             SnakepitShm.config_set(server, %{grace_ms: 50, no_such_key: 1})

    assert {:error, %{code: :invalid_request}} = SnakepitShm.config_set(server, %{grace_ms: -1})
    assert {:ok, %{grace_ms: grace_ms}} = SnakepitShm.config(server)
    assert grace_ms == config.grace_ms
  end
end

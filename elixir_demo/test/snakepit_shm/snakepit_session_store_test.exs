defmodule SnakepitShm.Snakepit.SessionStoreTest do
  # Against the suite's real node: sessions whose regions end with them.
  use ExUnit.Case, async: true

  alias SnakepitShm.Snakepit.{Session, SessionStore}
  alias SnakepitShm.TestNode

  import SnakepitShm.TestNode, only: [await: 2, stop_quietly: 1]

  doctest SnakepitShm.Snakepit.Session

  setup do
    {:ok, store} = SessionStore.start_link(server: TestNode.server(), name: nil)

    # The store is linked to the test process: it ends its sessions when the test ends.
    on_exit(fn -> stop_quietly(store) end)

    %{store: store, server: TestNode.server()}
  end

  test "create, get, update, list and delete mirror Snakepit's SessionStore", %{store: store} do
    id = TestNode.unique("sess")

    assert {:ok, %Session{id: ^id, ttl: 3600, metadata: %{}, regions: %{}} = created} =
             SessionStore.create_session(store, id, metadata: %{owner: "test"})

    assert created.metadata == %{owner: "test"}
    # Creating it again returns the same session (Snakepit: reuse on concurrent init).
    assert {:ok, %Session{id: ^id}} = SessionStore.create_session(store, id, [])
    assert SessionStore.session_exists?(store, id)
    assert id in SessionStore.list_sessions(store)

    assert {:ok, %Session{metadata: %{owner: "test", step: 2}, ttl: 60, ttl_ms: 60_000}} =
             SessionStore.update_session(store, id, fn session ->
               %{session | metadata: Map.put(session.metadata, :step, 2), ttl: 60}
             end)

    assert {:ok, %Session{metadata: %{step: 2}}} = SessionStore.get_session(store, id)

    assert {:error, %{code: :invalid_request}} =
             SessionStore.update_session(store, id, fn session -> %{session | id: "other"} end)

    assert {:error, %{code: :invalid_request}} =
             SessionStore.update_session(store, id, fn _ -> raise "boom" end)

    assert :ok = SessionStore.delete_session(store, id)
    refute SessionStore.session_exists?(store, id)

    assert {:error, %{code: :not_found, details: %{session: ^id}}} =
             SessionStore.get_session(store, id)

    # Idempotent, as in Snakepit.
    assert :ok = SessionStore.delete_session(store, id)

    stats = SessionStore.get_stats(store)
    assert %{sessions_created: 1, sessions_deleted: 1, current_sessions: 0} = stats
  end

  test "regions allocated in a session outlive their caller and end with the session",
       %{store: store, server: server} do
    id = TestNode.unique("sess")
    {:ok, _} = SessionStore.create_session(store, id, [])
    parent = self()

    # A short-lived process allocates; the store, not it, holds the regions.
    caller =
      spawn(fn ->
        send(parent, {:allocated, SessionStore.allocate_in_session(store, id, 4096, label: "a")})
      end)

    assert_receive {:allocated, {:ok, small}}, 10_000
    ref = Process.monitor(caller)
    assert_receive {:DOWN, ^ref, :process, ^caller, _}
    # A dedicated segment of its own (above dedicated_threshold_bytes), to see it go.
    {:ok, big} = SessionStore.allocate_in_session(store, id, 2 * 1_048_576, [])
    :ok = SnakepitShm.write(small, 0, "in the session")

    assert %{session: ^id} = small
    assert {:ok, info} = SnakepitShm.info(server, small.id)
    assert [%{holder: ^store}] = info.holders
    assert File.exists?(big.path)

    # Someone else's region tagged with the session ends with it too.
    {:ok, foreign} = SnakepitShm.allocate(server, 128, session: id)

    assert {:ok, listed} = SessionStore.session_regions(store, id)
    assert Enum.sort(Enum.map(listed, & &1.id)) == Enum.sort([small.id, big.id, foreign.id])
    assert {:ok, %Session{regions: regions}} = SessionStore.get_session(store, id)
    assert Map.keys(regions) |> Enum.sort() == Enum.sort([small.id, big.id])

    since = System.monotonic_time(:millisecond)

    assert {:ok, %{released: 3, other_tenants: 0, known: true}} =
             SessionStore.end_session(store, id)

    for region <- [small, big, foreign], do: TestNode.await_gone(region.id, since)
    assert {:ok, []} = SessionStore.session_regions(store, id)
    # The dedicated segment's file is unlinked with its region.
    refute File.exists?(big.path)
    assert %{regions_allocated: 2, regions_released: 3} = SessionStore.get_stats(store)
  end

  test "release_region ends one region early; unknown ones are :not_found", %{store: store} do
    id = TestNode.unique("sess")
    {:ok, _} = SessionStore.create_session(store, id, [])
    {:ok, one} = SessionStore.allocate_in_session(store, id, 256, [])
    {:ok, two} = SessionStore.allocate_in_session(store, id, 256, [])
    since = System.monotonic_time(:millisecond)
    assert :ok = SessionStore.release_region(store, id, one.id)
    TestNode.await_gone(one.id, since)
    assert {:ok, [%{id: two_id}]} = SessionStore.session_regions(store, id)
    assert two_id == two.id

    assert {:error, %{code: :not_found}} = SessionStore.release_region(store, id, one.id)
    assert :ok = SessionStore.delete_session(store, id)
  end

  test "an expired session is ended, its regions freed", %{store: store} do
    id = TestNode.unique("sess")
    keep = TestNode.unique("sess")
    {:ok, _} = SessionStore.create_session(store, id, ttl_ms: 0)
    {:ok, _} = SessionStore.create_session(store, keep, ttl: 3600)
    {:ok, region} = SessionStore.allocate_in_session(store, id, 1024, [])
    {:ok, kept} = SessionStore.allocate_in_session(store, keep, 1024, [])
    # ttl_ms 0: expired as soon as a millisecond has passed since the last access.
    Process.sleep(2)
    since = System.monotonic_time(:millisecond)

    assert SessionStore.cleanup_expired_sessions(store) == 1
    TestNode.await_gone(region.id, since)
    refute SessionStore.session_exists?(store, id)
    assert SessionStore.session_exists?(store, keep)
    assert {:ok, _} = SnakepitShm.info(TestNode.server(), kept.id)
    assert %{sessions_expired: 1} = SessionStore.get_stats(store)
  end

  test "the periodic sweep ends expired sessions by itself", %{server: server} do
    {:ok, store} =
      SessionStore.start_link(server: server, name: nil, cleanup_interval: 20, default_ttl_ms: 50)

    id = TestNode.unique("sess")
    {:ok, _} = SessionStore.create_session(store, id, [])
    {:ok, region} = SessionStore.allocate_in_session(store, id, 1024, [])
    since = System.monotonic_time(:millisecond)
    await(fn -> not SessionStore.session_exists?(store, id) end, "session expiry")
    TestNode.await_gone(region.id, since)
    GenServer.stop(store)
  end

  test "stopping the store ends its sessions", %{server: server} do
    {:ok, store} = SessionStore.start_link(server: server, name: nil)
    id = TestNode.unique("sess")
    {:ok, _} = SessionStore.create_session(store, id, [])
    {:ok, region} = SessionStore.allocate_in_session(store, id, 1024, [])
    # A Python worker (here: this test, by OS pid) holding it does not keep it alive.
    {:ok, _} =
      SnakepitShm.acquire(server, region, holder: {:os_pid, System.pid() |> String.to_integer()})

    since = System.monotonic_time(:millisecond)
    GenServer.stop(store)
    TestNode.await_gone(region.id, since)
  end

  test "sessions of a tenant allocate, list and end with that tenant", %{
    store: store,
    server: server
  } do
    id = TestNode.unique("sess")
    tenant = TestNode.unique("tenant")
    {:ok, %Session{tenant: ^tenant}} = SessionStore.create_session(store, id, tenant: tenant)
    {:ok, region} = SessionStore.allocate_in_session(store, id, 512, [])
    assert region.tenant == tenant
    assert {:ok, [%{id: listed}]} = SessionStore.session_regions(store, id)
    assert listed == region.id
    # Without the tenant the node shows nothing of it.
    assert {:ok, []} = SnakepitShm.list(server, session: id)

    assert {:error, %{code: :invalid_request}} =
             SessionStore.create_session(store, id, tenant: "someone-else")

    assert {:ok, %{released: 1}} = SessionStore.end_session(store, id)

    await(
      fn ->
        match?({:error, %{code: :not_found}}, SnakepitShm.info(server, region.id, tenant: tenant))
      end,
      "the tenant's region to go"
    )
  end

  test "bad input gets clear errors", %{store: store, server: server} do
    assert {:error, %{code: :not_found, details: %{session: "nope"}}} =
             SessionStore.allocate_in_session(store, "nope", 16, [])

    assert {:error, %{code: :invalid_request}} = SessionStore.create_session(store, "", [])
    assert {:error, %{code: :invalid_request}} = SessionStore.get_session(store, 42)

    assert {:error, %{code: :invalid_request, message: message}} =
             SessionStore.create_session(store, "x", colour: :blue)

    assert message =~ "unknown option :colour"

    {:ok, _} =
      SessionStore.create_session(store, "x-#{System.unique_integer([:positive])}", ttl: 5)

    id = TestNode.unique("sess")
    {:ok, _} = SessionStore.create_session(store, id, [])

    assert {:error, %{code: :invalid_request}} =
             SessionStore.allocate_in_session(store, id, 16, holder: self())

    assert {:error, %{code: :invalid_request}} =
             SessionStore.allocate_in_session(store, id, 0, [])

    # The node's own refusal comes through as it is.
    assert {:error, %{code: :invalid_request}} =
             SessionStore.allocate_in_session(store, id, 16, shape: :round)

    assert {:error, %{code: :invalid_request}} = SessionStore.start_link(name: nil)
    assert {:error, %{code: :invalid_request}} = SessionStore.start_link(server: server, ttl: 1)

    {:ok, small} = SessionStore.start_link(server: server, name: nil, max_sessions: 1)
    {:ok, _} = SessionStore.create_session(small, "only", [])

    assert {:error, %{code: :limit_exceeded, details: %{limit: 1}}} =
             SessionStore.create_session(small, "second", [])

    stop_quietly(small)

    assert {:error, %{code: :not_found}} = SessionStore.get_session(:no_such_store_here, "s")
  end
end

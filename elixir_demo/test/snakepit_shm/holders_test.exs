defmodule SnakepitShm.HoldersTest do
  use ExUnit.Case, async: true

  alias SnakepitShm.TestNode

  setup do
    %{server: TestNode.server()}
  end

  test "a holder process that dies loses its references; the region goes after grace",
       %{server: server} do
    {:ok, %{grace_ms: grace_ms}} = SnakepitShm.config(server)
    {holder, region} = TestNode.spawn_holder(65_536, label: "crash")

    assert {:ok, %{refcount: 1, holders: [%{holder: ^holder}]}} =
             SnakepitShm.info(server, region.id)

    killed_at = System.monotonic_time(:millisecond)
    Process.exit(holder, :kill)
    gone_after_ms = TestNode.await_gone(region.id, killed_at)

    assert gone_after_ms >= grace_ms
  end

  test "a large region's segment file is unlinked when it is deallocated" do
    {holder, region} = TestNode.spawn_holder(2 * 1_048_576, label: "dedicated")
    assert File.regular?(region.path)

    killed_at = System.monotonic_time(:millisecond)
    Process.exit(holder, :kill)
    TestNode.await_gone(region.id, killed_at)
    refute File.exists?(region.path)
  end

  test "list filters by session, label and holder", %{server: server} do
    session = TestNode.unique("session")
    label = TestNode.unique("label")

    ids =
      for _ <- 1..3 do
        {:ok, region} = SnakepitShm.allocate(server, 128, session: session, label: label)
        assert region.session == session
        region.id
      end

    {:ok, other} = SnakepitShm.allocate(server, 128, session: TestNode.unique("other"))

    assert {:ok, infos} = SnakepitShm.list(server, session: session)
    assert Enum.sort(Enum.map(infos, & &1.id)) == Enum.sort(ids)
    assert Enum.all?(infos, &(&1.session == session and &1.label == label))

    assert {:ok, by_label} = SnakepitShm.list(server, %{label: label})
    assert length(by_label) == 3

    assert {:ok, mine} = SnakepitShm.list(server, holder: self())
    assert Enum.sort(Enum.map(mine, & &1.id)) == Enum.sort([other.id | ids])

    assert {:ok, [_]} = SnakepitShm.list(server, session: session, limit: 1)
    assert {:error, %{code: :invalid_request}} = SnakepitShm.list(server, colour: "red")

    :ok = SnakepitShm.release(server, other.id)
  end

  test "release_session drops every reference of the session", %{server: server} do
    session = TestNode.unique("session")
    {holder, held_elsewhere} = TestNode.spawn_holder(128, session: session)

    ids =
      for _ <- 1..2 do
        {:ok, region} = SnakepitShm.allocate(server, 128, session: session)
        region.id
      end

    released_at = System.monotonic_time(:millisecond)
    assert {:ok, %{released: 3}} = SnakepitShm.release_session(server, session)

    for id <- [held_elsewhere.id | ids], do: TestNode.await_gone(id, released_at)
    assert {:ok, []} = SnakepitShm.list(server, session: session)
    assert {:ok, %{released: 0}} = SnakepitShm.release_session(server, session)
    Process.exit(holder, :kill)
  end
end

defmodule SnakepitShm.LifecycleTest do
  use ExUnit.Case, async: true

  alias SnakepitShm.TestNode

  setup do
    %{server: TestNode.server()}
  end

  test "allocate returns a descriptor of the contract's shape", %{server: server} do
    assert {:ok, region} = SnakepitShm.allocate(server, 1000, label: "shape")

    assert %{
             id: id,
             generation: generation,
             segment: "/snk" <> _,
             path: path,
             offset: offset,
             size: 1000,
             access: :read_write,
             tenant: nil,
             session: nil,
             token: token
           } = region

    assert id =~ ~r/\A[0-9a-f]{16}\z/
    assert token =~ ~r/\A[0-9a-f]{32}\z/
    assert is_integer(generation)
    assert rem(offset, 64) == 0
    assert Path.dirname(path) == TestNode.shm_dir()
    assert region.segment == "/" <> Path.basename(path)
    assert File.regular?(path)
    assert :ok = SnakepitShm.release(server, id)
  end

  test "info follows acquire and release; refcount zero deallocates after grace",
       %{server: server} do
    {:ok, region} = SnakepitShm.allocate(server, 4096, label: "lifecycle")
    me = self()

    assert {:ok, %{refcount: 1, holders: [%{holder: ^me, refs: 1}], state: :live} = info} =
             SnakepitShm.info(server, region.id)

    assert info.label == "lifecycle"
    assert info.size == 4096

    assert {:ok, again} = SnakepitShm.acquire(server, region)
    assert again.id == region.id
    assert again.token == region.token

    assert {:ok, %{refcount: 2, holders: [%{holder: ^me, refs: 2}]}} =
             SnakepitShm.info(server, region.id)

    assert :ok = SnakepitShm.release(server, region.id)
    assert {:ok, %{refcount: 1}} = SnakepitShm.info(server, region.id)

    released_at = System.monotonic_time(:millisecond)
    assert :ok = SnakepitShm.release(server, region.id)
    TestNode.await_gone(region.id, released_at)

    assert {:error, %{code: :not_found}} = SnakepitShm.release(server, region.id)
  end

  test "free forbids new acquires and drops only the caller's reference", %{server: server} do
    {other, region} = TestNode.spawn_holder(4096)
    assert {:ok, _} = SnakepitShm.acquire(server, region)

    assert :ok = SnakepitShm.free(server, region.id)

    assert {:ok, %{state: :freed, refcount: 1, holders: [%{holder: ^other}]}} =
             SnakepitShm.info(server, region.id)

    # With the right token: refused because the region was freed, not for the token.
    assert {:error, %{code: :forbidden, message: message}} = SnakepitShm.acquire(server, region)
    assert message =~ "was freed"

    killed_at = System.monotonic_time(:millisecond)
    Process.exit(other, :kill)
    TestNode.await_gone(region.id, killed_at)
  end

  test "release and free by a non-holder are forbidden; unknown ids are not found",
       %{server: server} do
    {other, region} = TestNode.spawn_holder(4096)

    assert {:error, %{code: :forbidden, message: message, remediation: _}} =
             SnakepitShm.release(server, region.id)

    assert is_binary(message)
    assert {:error, %{code: :forbidden}} = SnakepitShm.free(server, region.id)
    assert {:ok, %{refcount: 1, state: :live}} = SnakepitShm.info(server, region.id)

    assert {:error, %{code: :not_found}} = SnakepitShm.info(server, "00000000ffffffff")
    assert {:error, %{code: :not_found}} = SnakepitShm.acquire(server, "00000000ffffffff")

    Process.exit(other, :kill)
  end

  test "an explicit holder is used instead of the caller", %{server: server} do
    {other, region} = TestNode.spawn_holder(4096)
    assert {:ok, _} = SnakepitShm.acquire(server, region, holder: other)
    assert {:ok, %{holders: [%{holder: ^other, refs: 2}]}} = SnakepitShm.info(server, region.id)
    assert :ok = SnakepitShm.release(server, region.id, holder: other)
    assert {:ok, %{refcount: 1}} = SnakepitShm.info(server, region.id)
    Process.exit(other, :kill)
  end
end

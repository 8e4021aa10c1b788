defmodule SnakepitShm.ConsistentTest do
  use ExUnit.Case, async: true

  alias SnakepitShm.TestNode

  test "consistent writes are read back whole, and bounds and holders are checked" do
    server = TestNode.server()
    {:ok, region} = SnakepitShm.allocate(server, 4096)
    assert :ok = SnakepitShm.write_consistent(server, region.id, 100, "hello")
    assert {:ok, "hello"} = SnakepitShm.read_consistent(server, region.id, 100, 5)
    assert {:ok, "hello"} = SnakepitShm.read(region, 100, 5)

    assert {:error, %{code: :invalid_request}} =
             SnakepitShm.write_consistent(server, region.id, 4094, "abc")

    stranger = spawn(fn -> Process.sleep(:infinity) end)

    assert {:error, %{code: :forbidden}} =
             SnakepitShm.read_consistent(server, region.id, 0, 4, holder: stranger)

    Process.exit(stranger, :kill)
    :ok = SnakepitShm.release(server, region.id)
  end

  test "consistent writes from many BEAM processes are read back whole, never mixed" do
    server = TestNode.server()
    {:ok, region} = SnakepitShm.allocate(server, 64 * 8)
    parent = self()

    writers =
      for w <- 1..4 do
        spawn(fn ->
          {:ok, _} = SnakepitShm.acquire(server, region)

          for n <- 1..150 do
            value = :binary.copy(<<w * 1_000_000 + n::little-64>>, 64)
            :ok = SnakepitShm.write_consistent(server, region.id, 0, value)
          end

          send(parent, {:done, self()})
          Process.sleep(:infinity)
        end)
      end

    reads =
      for _ <- 1..300 do
        {:ok, <<first::binary-size(8), _::binary>> = bytes} =
          SnakepitShm.read_consistent(server, region.id, 0, 64 * 8)

        bytes == :binary.copy(first, 64)
      end

    for w <- writers, do: assert_receive({:done, ^w}, 10_000)
    assert Enum.all?(reads), "a read mixed two writes"
    for w <- writers, do: Process.exit(w, :kill)
    :ok = SnakepitShm.release(server, region.id)
  end
end

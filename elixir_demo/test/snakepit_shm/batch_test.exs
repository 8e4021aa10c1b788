defmodule SnakepitShm.BatchTest do
  use ExUnit.Case, async: true

  alias SnakepitShm.TestNode

  test "allocate_many and release_many move many regions in one call each" do
    server = TestNode.server()
    sizes = [64, 4096, 100_000, 2_000_000]

    assert {:ok, regions} =
             SnakepitShm.allocate_many(server, sizes, label: TestNode.unique("batch"))

    assert Enum.map(regions, & &1.size) == sizes
    assert regions |> Enum.map(& &1.id) |> Enum.uniq() |> length() == 4

    for r <- regions do
      assert {:ok, %{refcount: 1, holders: [%{holder: holder}]}} = SnakepitShm.info(server, r.id)
      assert holder == self()
    end

    assert {:ok, %{released: 4}} = SnakepitShm.release_many(server, Enum.map(regions, & &1.id))

    # No reference left: in its grace period (refcount 0), or already deallocated when
    # the grace period (100 ms) ended before this info on a busy machine (:freed, or
    # :stale_generation once a concurrent test's allocation reused the slot).
    for r <- regions do
      reply = SnakepitShm.info(server, r.id)

      assert match?({:ok, %{refcount: 0}}, reply) or
               match?(
                 {:error, %{code: :not_found, details: %{reason: reason}}}
                 when reason in [:freed, :stale_generation],
                 reply
               ),
             "region #{r.id} after release_many: #{inspect(reply)}"
    end
  end

  test "a bad element refuses the whole batch and names its index" do
    server = TestNode.server()

    assert {:error, %{code: :invalid_request, details: %{index: 1}}} =
             SnakepitShm.allocate_many(server, [10, -1, 10])

    {:ok, [a]} = SnakepitShm.allocate_many(server, [10])

    assert {:error, %{code: :forbidden, details: %{index: 1, id: id}}} =
             SnakepitShm.release_many(server, [a.id, a.id])

    assert id == a.id
    assert {:ok, %{refcount: 1}} = SnakepitShm.info(server, a.id)
    assert {:ok, %{released: 1}} = SnakepitShm.release_many(server, [a.id])
  end
end

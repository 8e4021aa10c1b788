defmodule SnakepitShm.PythonWorkerTest do
  use ExUnit.Case, async: true

  alias SnakepitShm.{PythonWorker, TestNode}

  @moduletag :python

  setup do
    log_path = Path.join(System.tmp_dir!(), TestNode.unique("snktest-mix-worker") <> ".log")
    {:ok, worker} = PythonWorker.start(stderr_path: log_path)

    on_exit(fn ->
      assert_gone(worker)
      File.rm(log_path)
    end)

    %{server: TestNode.server(), worker: worker}
  end

  test "the worker hashes a region to the same sha256 as Elixir",
       %{server: server, worker: worker} do
    bytes = :crypto.strong_rand_bytes(100_000)
    {:ok, region} = SnakepitShm.allocate(server, byte_size(bytes))
    :ok = SnakepitShm.write(region, 0, bytes)

    assert {:ok, %{"sha256" => sha256, "size" => "100000"}} =
             PythonWorker.request(worker, %{op: "sha256", region: region})

    assert sha256 == Base.encode16(:crypto.hash(:sha256, bytes), case: :lower)
    PythonWorker.stop(worker)
  end

  test "scale writes input * factor into the output region", %{server: server, worker: worker} do
    input = for x <- [1.0, -2.0, 0.5, 1.0e10], into: <<>>, do: <<x::float-little-64>>
    {:ok, in_region} = SnakepitShm.allocate(server, 32)
    {:ok, out_region} = SnakepitShm.allocate(server, 32)
    :ok = SnakepitShm.write(in_region, 0, input)

    assert {:ok, %{"n" => "4", "sum" => sum}} =
             PythonWorker.request(worker, %{
               op: "scale",
               input: in_region,
               output: out_region,
               factor: 2.0
             })

    assert {:ok,
            <<2.0::float-little-64, -4.0::float-little-64, 1.0::float-little-64,
              2.0e10::float-little-64>>} = SnakepitShm.read(out_region, 0, 32)

    assert {parsed, ""} = Float.parse(sum)
    assert parsed == 2.0e10 - 1.0
    PythonWorker.stop(worker)
  end

  test "fill is visible to Elixir; errors come back as error maps",
       %{server: server, worker: worker} do
    {:ok, region} = SnakepitShm.allocate(server, 16)
    assert {:ok, _} = PythonWorker.request(worker, %{op: "fill", region: region, byte: 0xAB})
    assert {:ok, <<0xAB, 0xAB, _::binary-size(14)>>} = SnakepitShm.read(region, 0, 16)

    assert {:error, %{code: code, message: message}} =
             PythonWorker.request(worker, %{op: "no_such_op"})

    assert code == :invalid_request
    assert is_binary(message)
    assert {:ok, %{"pid" => pid}} = PythonWorker.request(worker, %{op: "ping"})
    assert String.to_integer(pid) == PythonWorker.os_pid(worker)
    PythonWorker.stop(worker)
  end

  defp assert_gone(worker) do
    PythonWorker.stop(worker)
    refute SnakepitShm.OsProcess.alive?(worker.os_pid)
  end
end

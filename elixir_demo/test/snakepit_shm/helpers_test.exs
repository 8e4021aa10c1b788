defmodule SnakepitShm.HelpersTest do
  use ExUnit.Case, async: true

  alias SnakepitShm.{Call, Error, Latency, NodeProcess}
  alias SnakepitShm.Demo.Floats

  doctest SnakepitShm.Error
  doctest SnakepitShm.Call, only: [destination: 1]
  doctest SnakepitShm.Latency
  doctest SnakepitShm.Demo.Floats
  doctest SnakepitShm.Demo.Say

  test "Error.new/4 puts extra keys in details, never over the required ones" do
    assert Error.new(:limit_exceeded, "too big", "ask less", %{limit: 10, code: :x}) ==
             {:error,
              %Error{
                code: :limit_exceeded,
                message: "too big",
                remediation: "ask less",
                details: %{limit: 10}
              }}
  end

  test "a server is a node or {name, node}" do
    assert Call.destination(:a@b) == {:snakepit_shm, :a@b}
    assert Call.destination({:other, :a@b}) == {:other, :a@b}
  end

  test "Latency percentiles and summary" do
    samples = Enum.to_list(1..1000)
    assert Latency.percentile(samples, 50) == 500
    assert Latency.percentile(samples, 99) == 990
    assert Latency.percentile([7], 99) == 7

    assert %{count: 1000, p50_us: 500, p99_us: 990, min_us: 1, max_us: 1000} =
             Latency.summarize(samples)

    assert {:ok, [_, _, _]} = Latency.sample(3, fn -> :ok end)
    assert {:error, :boom} = Latency.sample(3, fn -> :boom end)
  end

  test "demo floats: scaling is exact and the sum formula matches" do
    input = Floats.input(5000)
    scaled = Floats.scale(input, 2.5)
    assert byte_size(scaled) == 5000 * 8

    sum = for <<x::float-little-64 <- scaled>>, reduce: 0.0, do: (acc -> acc + x)
    assert sum == Floats.scaled_sum(5000, 2.5)
    assert Floats.at(scaled, 1025) == 0.3125
  end

  test "launcher arguments carry a cookie file, never the cookie" do
    args =
      NodeProcess.launcher_args([name: "n1", shm_dir: "/dev/shm/x", cookie: :secret], "/tmp/c")

    assert args == [
             "node",
             "--name",
             "n1",
             "--cookie-file",
             "/tmp/c",
             "--shm-dir",
             "/dev/shm/x",
             "--exit-on-stdin-eof"
           ]

    refute "secret" in args
  end

  test "an operator key file is passed by name, after the config file" do
    args =
      NodeProcess.launcher_args(
        [config: "/tmp/conf", operator_key_file: "/tmp/operator.key"],
        "/tmp/c"
      )

    assert args == [
             "node",
             "--cookie-file",
             "/tmp/c",
             "--config",
             "/tmp/conf",
             "--operator-key-file",
             "/tmp/operator.key",
             "--exit-on-stdin-eof"
           ]
  end

  test "a missing launcher is a clear :not_found error" do
    assert {:error, %{code: :not_found, message: message}} =
             NodeProcess.start(launcher: "/nonexistent/snakepit-shm")

    assert message =~ "/nonexistent/snakepit-shm"
  end
end

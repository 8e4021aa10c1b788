defmodule Bench.Pairs do
  @moduledoc """
  The unit of the control-path benchmarks: one allocate+release pair, two
  `GenServer.call`s to `{:snakepit_shm, node}` (the snakepit-shm node or the Erlang
  baseline), timed client-side with `:erlang.monotonic_time(:nanosecond)`.
  """

  @call_timeout_ms 10_000

  @doc "Runs `n` pairs of `region_bytes` regions one after the other; returns their latencies (ns)."
  @spec run(node(), non_neg_integer(), pos_integer()) :: [non_neg_integer()]
  def run(node, n, region_bytes) do
    server = {:snakepit_shm, node}
    for _ <- 1..n//1, do: pair(server, region_bytes)
  end

  @doc "One allocate+release pair; returns its latency in ns."
  @spec pair(GenServer.server(), pos_integer()) :: non_neg_integer()
  def pair(server, region_bytes) do
    t0 = :erlang.monotonic_time(:nanosecond)

    id =
      case GenServer.call(server, {:allocate, region_bytes, %{}}, @call_timeout_ms) do
        {:ok, %{id: id}} -> id
        other -> Bench.Context.fail!("allocate replied #{inspect(other, limit: 10)}")
      end

    case GenServer.call(server, {:release, id, %{}}, @call_timeout_ms) do
      :ok -> :erlang.monotonic_time(:nanosecond) - t0
      other -> Bench.Context.fail!("release replied #{inspect(other, limit: 10)}")
    end
  end
end

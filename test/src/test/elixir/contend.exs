# Contends on region ID (acquired with its capability TOKEN) for SECONDS through the node (the JVM writes and reads for this
# BEAM): writes WORDS u64 words all equal to (WRITER_ID <<< 32 ||| n) with {:write, ...},
# then reads three snapshots with {:read, ...}, and again. Prints WRITES,
# READS, TORN (snapshots whose words differ) and WRITERS_SEEN (writer ids seen in reads).
#
#   elixir ... contend.exs NODE ID TOKEN SECONDS WORDS WRITER_ID
Code.require_file("support.exs", __DIR__)
import Bitwise

{node, [id, token, seconds, words, writer_id]} = E2E.args()
E2E.connect!(node)
[seconds, words, writer_id] = Enum.map([seconds, words, writer_id], &String.to_integer/1)
E2E.ok!(node, {:acquire, id, %{token: token}})
deadline = System.monotonic_time(:millisecond) + seconds * 1000

loop = fn loop, n, stats ->
  if System.monotonic_time(:millisecond) >= deadline do
    stats
  else
    value = writer_id <<< 32 ||| n
    :ok = E2E.call(node, {:write, id, 0, :binary.copy(<<value::little-64>>, words), %{}})

    stats =
      Enum.reduce(1..3, %{stats | writes: stats.writes + 1}, fn _, acc ->
        {:ok, <<first::little-64, _::binary>> = bytes} = E2E.call(node, {:read, id, 0, words * 8, %{}})
        torn = if bytes == :binary.copy(<<first::little-64>>, words), do: 0, else: 1
        %{acc | reads: acc.reads + 1, torn: acc.torn + torn, seen: MapSet.put(acc.seen, first >>> 32)}
      end)

    loop.(loop, n + 1, stats)
  end
end

stats = loop.(loop, 1, %{writes: 0, reads: 0, torn: 0, seen: MapSet.new()})
:ok = E2E.call(node, {:release, id, %{}})
E2E.emit("WRITES", stats.writes)
E2E.emit("READS", stats.reads)
E2E.emit("TORN", stats.torn)
E2E.emit("WRITERS_SEEN", stats.seen |> Enum.sort() |> Enum.join(","))

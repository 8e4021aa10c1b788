# An Elixir holder process is killed: its regions must be deallocated after the grace
# period. Sets grace_ms to GRACE_MS, spawns a process that allocates a small (pooled) and a
# large (dedicated) region, checks it is their only holder, kills it, then polls
# {:info, id} until :not_found. Prints GRACE_MS and ELAPSED_MS_0/1 (kill → not_found).
#
#   elixir ... holder_killed.exs NODE GRACE_MS
Code.require_file("support.exs", __DIR__)

{node, [grace_ms]} = E2E.args()
E2E.connect!(node)
grace_ms = String.to_integer(grace_ms)
config = E2E.ok!(node, {:config, {:set, %{grace_ms: grace_ms}}})
E2E.check!(config.grace_ms == grace_ms, "config after set: #{inspect(config)}")

sizes = [4096, 3 * 1024 * 1024 + 5]
parent = self()

holder =
  spawn(fn ->
    descs = Enum.map(sizes, &E2E.ok!(node, {:allocate, &1, %{label: "e2e-holder-killed"}}))
    send(parent, {:allocated, descs})
    Process.sleep(:infinity)
  end)

descs =
  receive do
    {:allocated, descs} -> descs
  after
    10_000 -> E2E.fail!("the holder process did not allocate within 10 s")
  end

for desc <- descs do
  info = E2E.ok!(node, {:info, desc.id})
  E2E.check!(info.refcount == 1 and info.holders == [%{holder: holder, refs: 1}],
             "info before the kill: #{inspect(info)}")
end

killed_ms = System.monotonic_time(:millisecond)
Process.exit(holder, :kill)

descs
|> Enum.with_index()
|> Enum.each(fn {desc, index} ->
  elapsed_ms = E2E.await_not_found!(node, desc.id, killed_ms, grace_ms + 10_000)
  E2E.emit("ELAPSED_MS_#{index}", elapsed_ms)
end)

E2E.emit("GRACE_MS", grace_ms)
E2E.emit("REGIONS_LEFT", E2E.ok!(node, :stats).regions)

# Watches regions whose holders are about to die with their whole BEAM node. Checks each
# ID is live, prints HOLDER_DEATHS_BEFORE (stats holder_deaths_total) and ARMED=1, then
# waits for a line on stdin (the harness kills the other BEAM first). Right after it,
# checks every region is still there (the grace period runs), printing PRESENT_AFTER_KILL,
# then polls {:info, id} until each is :not_found: prints ELAPSED_MS_I (go-ahead →
# not_found), ALL_GONE_MS, HOLDER_DEATHS_AFTER and REGIONS_LEFT.
#
#   elixir ... regions_gone.exs NODE LIMIT_MS ID...
Code.require_file("support.exs", __DIR__)

{node, [limit_ms | ids]} = E2E.args()
E2E.connect!(node)
limit_ms = String.to_integer(limit_ms)
E2E.check!(ids != [], "no region ids given")

for id <- ids do
  info = E2E.ok!(node, {:info, id})
  E2E.check!(info.state == :live and info.refcount >= 1, "region #{id} before the kill: #{inspect(info)}")
end

E2E.emit("HOLDER_DEATHS_BEFORE", E2E.ok!(node, :stats).holder_deaths_total)
E2E.emit("ARMED", 1)

E2E.await_line!()
started_ms = System.monotonic_time(:millisecond)

present =
  Enum.count(ids, fn id ->
    match?({:ok, _}, E2E.call(node, {:info, id}))
  end)

E2E.emit("PRESENT_AFTER_KILL", present)

ids
|> Enum.with_index()
|> Enum.each(fn {id, i} ->
  E2E.emit("ELAPSED_MS_#{i}", E2E.await_not_found!(node, id, started_ms, limit_ms))
end)

E2E.emit("ALL_GONE_MS", System.monotonic_time(:millisecond) - started_ms)
E2E.emit("HOLDER_DEATHS_AFTER", E2E.ok!(node, :stats).holder_deaths_total)
E2E.emit("REGIONS_LEFT", E2E.ok!(node, :stats).regions)

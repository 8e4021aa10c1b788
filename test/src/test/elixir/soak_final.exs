# The end of a soak (SoakIT), after every client and Python worker has stopped: prints
# the manager's HEALTH and its checks, waits up to DRAIN_MS for the regions of the
# stopped holders to be deallocated (REGIONS_BEFORE_GC), runs :gc and prints what is left
# (REGIONS, SEGMENTS, BYTES_IN_USE: all 0 when nothing leaked) with a few figures of the
# manager's run.
#
#   elixir ... soak_final.exs NODE DRAIN_MS
Code.require_file("support.exs", __DIR__)

defmodule SoakFinal do
  @doc "Stats once no region is left, or at the deadline."
  @spec drain(node(), integer()) :: map()
  def drain(node, deadline_ms) do
    stats = E2E.ok!(node, :stats)

    if stats.regions == 0 or System.monotonic_time(:millisecond) > deadline_ms do
      stats
    else
      Process.sleep(50)
      drain(node, deadline_ms)
    end
  end
end

{node, [drain_ms]} = E2E.args()
E2E.connect!(node)

health = E2E.ok!(node, :health)
E2E.emit("HEALTH", health.status)
E2E.emit("HEALTH_CHECKS", Enum.map_join(health.checks, ",", &"#{&1.name}:#{&1.status}"))

drained = SoakFinal.drain(node, System.monotonic_time(:millisecond) + String.to_integer(drain_ms))

E2E.emit("REGIONS_BEFORE_GC", drained.regions)

if drained.regions > 0 do
  left = E2E.ok!(node, {:list, %{limit: 5}})
  E2E.emit("LEFT_BEFORE_GC", Enum.map_join(left, ";", &"#{&1.id}:#{&1.state}:#{inspect(&1.holders)}"))
end

gc = E2E.ok!(node, :gc)
E2E.emit("GC_DEALLOCATED", gc.deallocated)
E2E.emit("GC_SEGMENTS_RELEASED", gc.segments_released)
E2E.emit("GC_SWEEP_RECLAIMED", gc.sweep.reclaimed)

stats = E2E.ok!(node, :stats)
E2E.emit("REGIONS", stats.regions)
E2E.emit("SEGMENTS", stats.segments)
E2E.emit("BYTES_IN_USE", stats.bytes_in_use)
E2E.emit("INVALID_REGIONS", stats.invalid_regions)
E2E.emit("HOLDER_DEATHS_TOTAL", stats.holder_deaths_total)
E2E.emit("DEALLOCATED_TOTAL", stats.deallocated_total)
E2E.emit("ERRORS", Enum.map_join(stats.errors, ",", fn {code, n} -> "#{code}:#{n}" end))
E2E.emit("HEALTH_AFTER_GC", E2E.ok!(node, :health).status)

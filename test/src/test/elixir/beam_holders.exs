# A BEAM whose own processes hold regions, to be killed whole (SIGKILL of beam.smp) by
# the harness. Sets grace_ms to GRACE_MS, then spawns four holder processes: two hold
# pooled regions, one a dedicated region, one both; one region is acquired by a second
# holder too, so two of the dying node's processes share it. Prints NODE_NAME (this
# BEAM's node), BEAM_OS_PID (System.pid/0, the beam.smp process), HOLDERS, COUNT,
# ID_I per region and READY=1, then sleeps until it is killed.
#
#   elixir ... beam_holders.exs NODE GRACE_MS
Code.require_file("support.exs", __DIR__)

{node, [grace_ms]} = E2E.args()
E2E.connect!(node)
grace_ms = String.to_integer(grace_ms)
config = E2E.ok!(node, {:config, {:set, %{grace_ms: grace_ms}}})
E2E.check!(config.grace_ms == grace_ms, "config after set: #{inspect(config)}")

pooled_small = 4096
pooled_medium = 64 * 1024
dedicated = 3 * 1024 * 1024 + 5
# Sizes each holder process allocates (pooled below the dedicated threshold).
plans = [[pooled_small, pooled_medium], [dedicated], [pooled_small, dedicated], [pooled_medium]]
parent = self()

holders =
  for sizes <- plans do
    spawn(fn ->
      descs = Enum.map(sizes, &E2E.ok!(node, {:allocate, &1, %{label: "e2e-beam-crash"}}))
      send(parent, {:allocated, self(), descs})

      receive do
        {:acquire, id, token} ->
          E2E.ok!(node, {:acquire, id, %{token: token}})
          send(parent, {:acquired, self()})
      end

      Process.sleep(:infinity)
    end)
  end

descs =
  Enum.flat_map(holders, fn holder ->
    receive do
      {:allocated, ^holder, descs} -> descs
    after
      10_000 -> E2E.fail!("holder #{inspect(holder)} did not allocate within 10 s")
    end
  end)

# The last holder also holds the first holder's first region.
[first | _] = descs
sharer = List.last(holders)
send(sharer, {:acquire, first.id, first.token})

receive do
  {:acquired, ^sharer} -> :ok
after
  10_000 -> E2E.fail!("holder #{inspect(sharer)} did not acquire within 10 s")
end

for desc <- descs do
  info = E2E.ok!(node, {:info, desc.id})
  holder_pids = Enum.map(info.holders, & &1.holder)
  E2E.check!(info.state == :live and holder_pids -- holders == [],
             "region #{desc.id} is not held by this BEAM's holder processes: #{inspect(info)}")
end

E2E.check!(length(E2E.ok!(node, {:info, first.id}).holders) == 2, "the shared region has two holders")

descs |> Enum.with_index() |> Enum.each(fn {desc, i} -> E2E.emit("ID_#{i}", desc.id) end)
E2E.emit("COUNT", length(descs))
E2E.emit("HOLDERS", length(holders))
E2E.emit("NODE_NAME", node())
E2E.emit("BEAM_OS_PID", System.pid())
E2E.emit("READY", 1)
Process.sleep(:infinity)

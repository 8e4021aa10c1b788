# A Python OS process becomes the only holder of a region: this script allocates it,
# acquires it for {:os_pid, OS_PID}, releases its own reference and checks the region is
# still live with that one holder. Prints ID, DESC_JSON, GRACE_MS, POLL_MS and READY=1,
# then waits for a line on stdin (the harness kills the OS process first) and polls until
# the region is :not_found; prints ELAPSED_MS (go-ahead → not_found).
#
#   elixir ... os_pid_holder.exs NODE OS_PID GRACE_MS
Code.require_file("support.exs", __DIR__)

{node, [os_pid, grace_ms]} = E2E.args()
E2E.connect!(node)
holder = {:os_pid, String.to_integer(os_pid)}
config = E2E.ok!(node, {:config, {:set, %{grace_ms: String.to_integer(grace_ms)}}})

desc = E2E.ok!(node, {:allocate, 8192, %{label: "e2e-os-pid-holder"}})
E2E.ok!(node, {:acquire, desc.id, %{holder: holder, token: desc.token}})
E2E.check!(E2E.call(node, {:release, desc.id, %{}}) == :ok, "release by the caller failed")

info = E2E.ok!(node, {:info, desc.id})
E2E.check!(info.state == :live and info.refcount == 1 and
             info.holders == [%{holder: holder, refs: 1}],
           "info after the caller's release: #{inspect(info)}")

E2E.emit("ID", desc.id)
E2E.emit("DESC_JSON", E2E.json(desc))
E2E.emit("GRACE_MS", config.grace_ms)
E2E.emit("POLL_MS", config.os_pid_poll_ms)
E2E.emit("READY", 1)

E2E.await_line!()
started_ms = System.monotonic_time(:millisecond)
E2E.emit("ELAPSED_MS", E2E.await_not_found!(node, desc.id, started_ms, 30_000))

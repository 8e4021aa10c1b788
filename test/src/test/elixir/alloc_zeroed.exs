# Allocates one zeroed region of SIZE bytes held by the OS process OS_PID (so it outlives
# this script); prints ID, TOKEN (its capability token) and DESC_JSON.
#
#   elixir ... alloc_zeroed.exs NODE OS_PID SIZE
Code.require_file("support.exs", __DIR__)

{node, [os_pid, size]} = E2E.args()
E2E.connect!(node)
desc = E2E.ok!(node, {:allocate, String.to_integer(size), %{holder: {:os_pid, String.to_integer(os_pid)}}})
E2E.emit("ID", desc.id)
E2E.emit("TOKEN", desc.token)
E2E.emit("DESC_JSON", E2E.json(desc))

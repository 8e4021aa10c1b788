# Read-only access (SecurityIT): allocates a region (this script holds it read-write),
# fills it with random bytes, and acquires it :read_only for the OS process OS_PID (a
# Python worker), which then keeps it alive. A write through the node by that read-only
# holder is refused. Prints SHA256 (of the bytes), RO_DESC_JSON, RO_ACCESS, ID,
# ATTACK_ro_holder_write_via_node and SEC_KIND=n.
#
#   elixir ... sec_readonly.exs NODE OS_PID
Code.require_file("sec_support.exs", __DIR__)

{node, [os_pid]} = E2E.args()
E2E.connect!(node)
python = {:os_pid, String.to_integer(os_pid)}

desc = E2E.ok!(node, {:allocate, 8192, %{label: "sec-read-only"}})
bytes = :crypto.strong_rand_bytes(8192)
E2E.pwrite!(desc, bytes)
ro = E2E.ok!(node, {:acquire, desc.id, %{holder: python, token: desc.token, access: :read_only}})
E2E.check!(ro.id == desc.id and ro.offset == desc.offset, "read-only descriptor #{inspect(ro)}")

Sec.attack!(node, "ro_holder_write_via_node", {:write, desc.id, 0, "overwritten", %{holder: python}}, "forbidden")
Sec.attack!(node, "ro_holder_read_via_node", {:read, desc.id, 0, 16, %{holder: python}}, "ok")
E2E.check!(E2E.sha256(E2E.pread!(desc)) == E2E.sha256(bytes), "the bytes changed")

E2E.emit("ID", desc.id)
E2E.emit("SHA256", E2E.sha256(bytes))
E2E.emit("RO_ACCESS", ro.access)
E2E.emit("RO_DESC_JSON", E2E.json(ro))
Sec.emit_counts(node)

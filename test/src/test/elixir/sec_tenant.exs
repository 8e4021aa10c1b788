# Cross-tenant attacks (SecurityIT): a region of tenant "a" asked for by tenant "b", by a
# caller with no tenant, by a look-alike tenant — every call that names a region; list
# with other tenants or filters; an operator key sent to a node without one. The caller
# is the region's own holder, so only the tenant stands in the way. Prints
# ATTACK_NAME=outcome for each (the scenario fails when one is not the expected outcome),
# LIST_* (ids a listing showed), A_ID, B_ID, N_ID, and the security counts SEC_KIND=n.
#
#   elixir ... sec_tenant.exs NODE
Code.require_file("sec_support.exs", __DIR__)

{node, []} = E2E.args()
E2E.connect!(node)

a = E2E.ok!(node, {:allocate, 4096, %{tenant: "a", session: "sec-session-a", label: "sec-tenant-a"}})
b = E2E.ok!(node, {:allocate, 4096, %{tenant: "b", label: "sec-tenant-b"}})
n = E2E.ok!(node, {:allocate, 4096, %{label: "sec-no-tenant"}})
E2E.emit("A_ID", a.id)
E2E.emit("B_ID", b.id)
E2E.emit("N_ID", n.id)
secret = :crypto.strong_rand_bytes(4096)
E2E.pwrite!(a, secret)

for {who, opts} <- [{"b", %{tenant: "b"}}, {"none", %{}}, {"A", %{tenant: "A"}}] do
  Sec.attack!(node, "#{who}_acquire", {:acquire, a.id, Map.put(opts, :token, a.token)}, "forbidden")
  Sec.attack!(node, "#{who}_release", {:release, a.id, opts}, "forbidden")
  Sec.attack!(node, "#{who}_release_many", {:release_many, [a.id], opts}, "forbidden")
  Sec.attack!(node, "#{who}_free", {:free, a.id, opts}, "forbidden")
  Sec.attack!(node, "#{who}_info", {:info, a.id, opts}, "forbidden")
  Sec.attack!(node, "#{who}_write", {:write, a.id, 0, "stolen", opts}, "forbidden")
  Sec.attack!(node, "#{who}_read", {:read, a.id, 0, 16, opts}, "forbidden")
  listed = Sec.listed_ids(node, opts)
  E2E.emit("LIST_#{who}", Enum.join(listed, ","))
  E2E.check!(a.id not in listed, "list #{inspect(opts)} shows tenant a's region: #{inspect(listed)}")
end

Sec.attack!(node, "none_info_2", {:info, a.id}, "forbidden")
Sec.attack!(node, "a_acquires_b", {:acquire, b.id, %{tenant: "a", token: b.token}}, "forbidden")

# Filters narrow a listing, they never widen it to another tenant.
for {name, filter} <- [
      {"by_holder", %{holder: self()}},
      {"by_session", %{session: "sec-session-a"}},
      {"by_label", %{label: "sec-tenant-a"}},
      {"b_by_session", %{tenant: "b", session: "sec-session-a"}}
    ] do
  listed = Sec.listed_ids(node, filter)
  E2E.emit("LIST_#{name}", Enum.join(listed, ","))
  E2E.check!(a.id not in listed, "list #{inspect(filter)} shows tenant a's region: #{inspect(listed)}")
end

# A node without an operator key refuses every key.
Sec.attack!(node, "operator_key_list_no_key_node", {:list, %{operator_key: String.duplicate("k", 24)}}, "forbidden")

Sec.attack!(
  node,
  "operator_key_info_no_key_node",
  {:info, a.id, %{operator_key: String.duplicate("k", 24)}},
  "forbidden"
)

# Nothing of the above changed tenant a's region; tenant a itself still gets in.
info = E2E.ok!(node, {:info, a.id, %{tenant: "a"}})

E2E.check!(
  info.state == :live and info.refcount == 1 and info.holders == [%{holder: self(), refs: 1}],
  "tenant a's region after the attacks: #{inspect(info)}"
)

E2E.check!(E2E.sha256(E2E.pread!(a)) == E2E.sha256(secret), "tenant a's bytes changed")
Sec.attack!(node, "a_acquire_control", {:acquire, a.id, %{tenant: "a", token: a.token}}, "ok")
Sec.attack!(node, "a_release_control", {:release, a.id, %{tenant: "a"}}, "ok")
E2E.emit("LIST_a", Enum.join(Sec.listed_ids(node, %{tenant: "a"}), ","))
E2E.check!(Sec.listed_ids(node, %{tenant: "a"}) == [a.id], "tenant a lists its region")

Sec.emit_counts(node)

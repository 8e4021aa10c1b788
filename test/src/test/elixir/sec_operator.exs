# The operator role (SecurityIT), on a node started with --operator-key-file: the key lists
# and inspects every tenant's regions; wrong, truncated or empty keys are refused; the key
# grants nothing but inspection (acquire/free do not take it) and is never shown. Prints
# ATTACK_NAME=outcome (the scenario fails when one is not the expected outcome),
# LIST_* (ids), A_ID, B_ID, N_ID, OPERATOR_CALLS, HEALTH_OPERATOR_KEY and SEC_KIND=n.
#
#   elixir ... sec_operator.exs NODE KEY
Code.require_file("sec_support.exs", __DIR__)

{node, [key]} = E2E.args()
E2E.connect!(node)

a = E2E.ok!(node, {:allocate, 4096, %{tenant: "a"}})
b = E2E.ok!(node, {:allocate, 4096, %{tenant: "b"}})
n = E2E.ok!(node, {:allocate, 4096, %{}})
E2E.emit("A_ID", a.id)
E2E.emit("B_ID", b.id)
E2E.emit("N_ID", n.id)

listed = Sec.listed_ids(node, %{operator_key: key})
E2E.emit("LIST_operator", Enum.join(listed, ","))
E2E.check!(listed == Enum.sort([a.id, b.id, n.id]), "the operator lists every tenant's region: #{inspect(listed)}")
listed_a = Sec.listed_ids(node, %{operator_key: key, tenant: "a"})
E2E.emit("LIST_operator_a", Enum.join(listed_a, ","))
E2E.check!(listed_a == [a.id], "the operator lists tenant a's regions: #{inspect(listed_a)}")
info = E2E.ok!(node, {:info, b.id, %{operator_key: key}})
E2E.check!(info.tenant == "b", "operator info of tenant b's region: #{inspect(info)}")
E2E.emit("LIST_plain", Enum.join(Sec.listed_ids(node, %{}), ","))
E2E.check!(Sec.listed_ids(node, %{}) == [n.id], "without the key a caller sees only regions without a tenant")

Sec.attack!(node, "wrong_key_list", {:list, %{operator_key: key <> "x"}}, "forbidden")
Sec.attack!(node, "truncated_key_list", {:list, %{operator_key: String.slice(key, 0, 16)}}, "forbidden")
Sec.attack!(node, "empty_key_list", {:list, %{operator_key: ""}}, "forbidden")
Sec.attack!(node, "wrong_key_info", {:info, a.id, %{operator_key: String.reverse(key)}}, "forbidden")
Sec.attack!(node, "key_for_acquire", {:acquire, a.id, %{operator_key: key, token: a.token}}, "invalid_request")
Sec.attack!(node, "key_for_free", {:free, a.id, %{operator_key: key}}, "invalid_request")
Sec.attack!(node, "key_without_token", {:acquire, a.id, %{tenant: "a"}}, "forbidden")

health = E2E.ok!(node, :health)
E2E.emit("HEALTH_OPERATOR_KEY", health.security.operator_key)
E2E.emit("OPERATOR_CALLS", health.security.operator_calls)

shown =
  [:health, :stats, {:config, :get}, {:list, %{operator_key: key}}]
  |> Enum.map(fn request -> inspect(E2E.ok!(node, request), limit: :infinity, printable_limit: :infinity) end)
  |> Enum.join("\n")

Sec.refute_contains!(shown, key, "health/stats/config/list")
E2E.emit("ATTACK_harvest_key_from_reports", "none_shown")

Sec.emit_counts(node)

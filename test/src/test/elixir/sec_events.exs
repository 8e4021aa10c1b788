# Security events (SecurityIT): causes exactly one event of each kind a request can cause,
# then prints the counts (SEC_KIND=n), HEALTH_EVENTS_TOTAL, the recent events of health (the
# no-tenant view plus those of tenants t1 and t2, each of which sees only its own) as
# RECENT_KIND=call|who|id|tenant|detail, SELF_NODE (this script's node, which names the
# caller in `who`), and the ids: A_ID (tenant t1), H_ID (held by another process),
# N_ID (read-only holder), F_ID (freed).
#
#   elixir ... sec_events.exs NODE
Code.require_file("sec_support.exs", __DIR__)

{node, []} = E2E.args()
E2E.connect!(node)
E2E.emit("SELF_NODE", node())
E2E.ok!(node, {:config, {:set, %{grace_ms: 60_000}}})

sleeper = fn -> spawn(fn -> Process.sleep(:infinity) end) end
a = E2E.ok!(node, {:allocate, 4096, %{tenant: "t1", label: "sec-events"}})
h = E2E.ok!(node, {:allocate, 4096, %{holder: sleeper.()}})
n = E2E.ok!(node, {:allocate, 4096, %{}})
reader = sleeper.()
E2E.ok!(node, {:acquire, n.id, %{holder: reader, token: n.token, access: :read_only}})
f = E2E.ok!(node, {:allocate, 4096, %{}})
E2E.check!(E2E.call(node, {:free, f.id}) == :ok, "free")
for {key, desc} <- [{"A_ID", a}, {"H_ID", h}, {"N_ID", n}, {"F_ID", f}], do: E2E.emit(key, desc.id)

Sec.attack!(node, "tenant_denied", {:info, a.id, %{tenant: "t2"}}, "forbidden")
Sec.attack!(node, "not_holder", {:release, h.id, %{}}, "forbidden")
Sec.attack!(node, "read_only_write", {:write, n.id, 0, "x", %{holder: reader}}, "forbidden")
Sec.attack!(node, "bad_token", {:acquire, a.id, %{tenant: "t1"}}, "forbidden")
Sec.attack!(node, "bad_operator_key", {:list, %{operator_key: String.duplicate("k", 20)}}, "forbidden")
Sec.attack!(node, "freed_region", {:acquire, f.id, %{token: f.token}}, "forbidden")
E2E.check!(E2E.ok!(node, :gc).deallocated == 1, ":gc deallocates the freed region")
Sec.attack!(node, "freed_id", {:acquire, f.id, %{token: f.token}}, "not_found:freed")
E2E.ok!(node, {:allocate, 4096, %{}})
Sec.attack!(node, "stale_generation", {:acquire, f.id, %{token: f.token}}, "not_found:stale_generation")
Sec.attack!(node, "unknown_id", {:acquire, "0000000000000000", %{token: f.token}}, "not_found:unknown")

counts = Sec.emit_counts(node)
security = E2E.ok!(node, :health).security
E2E.emit("HEALTH_EVENTS_TOTAL", security.events_total)
E2E.check!(security.events == counts, "health.security.events #{inspect(security.events)} vs stats #{inspect(counts)}")

# health names an event's region only to the tenant that caused it (or an operator):
# the no-tenant view must hold none of t1's or t2's, and the three views together all nine
by_tenant = fn tenant -> E2E.ok!(node, {:health, %{tenant: tenant}}).security.recent end
E2E.check!(Enum.all?(security.recent, &is_nil(&1.tenant)), "no-tenant health shows tenants' events")
E2E.check!(Enum.all?(by_tenant.("t1"), &(&1.tenant == "t1")), "t1's health shows others' events")
recent = security.recent ++ by_tenant.("t1") ++ by_tenant.("t2")

for event <- recent do
  text = fn value -> if is_nil(value), do: "nil", else: to_string(value) end
  fields = [event.call, event.who, event.id, event.tenant, event.detail] |> Enum.map(text)
  E2E.check!(is_integer(event.at_ms) and event.at_ms > 0, "event without at_ms: #{inspect(event)}")
  E2E.emit("RECENT_#{event.kind}", Enum.join(fields, "|"))
end

E2E.emit("RECENT_COUNT", length(recent))

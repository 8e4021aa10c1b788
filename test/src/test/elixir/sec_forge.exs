# Attacks on capabilities (SecurityIT): ids made up or guessed, acquire without the token
# or with a forged, truncated, swapped or stale one, a flood of guessed tokens, and ids of
# freed regions (also after their slot was reused). Prints ATTACK_NAME=outcome for each
# (the scenario fails when one is not the expected outcome), TOKEN_GUESSES_REFUSED,
# VICTIM_ID, VICTIM_TOKEN, and the security counts SEC_KIND=n.
#
#   elixir ... sec_forge.exs NODE GUESSES
Code.require_file("sec_support.exs", __DIR__)
import Bitwise

{node, [guesses]} = E2E.args()
E2E.connect!(node)
guesses = String.to_integer(guesses)

# A long grace, so a freed region stays until :gc deallocates it.
E2E.ok!(node, {:config, {:set, %{grace_ms: 60_000}}})
victim = E2E.ok!(node, {:allocate, 4096, %{label: "sec-victim"}})
E2E.emit("VICTIM_ID", victim.id)
E2E.emit("VICTIM_TOKEN", victim.token)
format_id = fn n -> n |> Integer.to_string(16) |> String.downcase() |> String.pad_leading(16, "0") end

# Ids from nowhere; the "next" id (sequence + 1, same slot) is tried before any other
# allocation, so it has not been issued.
next_id = format_id.(String.to_integer(victim.id, 16) + (1 <<< 24))
Sec.attack!(node, "unknown_id_zero", {:acquire, "0000000000000000", %{token: victim.token}}, "not_found:unknown")
Sec.attack!(node, "unknown_id_max", {:acquire, "ffffffffffffffff", %{token: victim.token}}, "not_found:unknown")
Sec.attack!(node, "unknown_id_next", {:acquire, next_id, %{token: victim.token}}, "not_found:unknown")
Sec.attack!(node, "unknown_id_info", {:info, "ffffffffffffffff"}, "not_found:unknown")

# The real id without its token, or with a forged one.
<<head::binary-size(31), last::binary-size(1)>> = victim.token
flipped = head <> if(last == "0", do: "1", else: "0")
Sec.attack!(node, "no_token", {:acquire, victim.id, %{}}, "forbidden")
Sec.attack!(node, "empty_token", {:acquire, victim.id, %{token: ""}}, "forbidden")
Sec.attack!(node, "random_token", {:acquire, victim.id, %{token: Sec.random_token()}}, "forbidden")
Sec.attack!(node, "last_digit_flipped", {:acquire, victim.id, %{token: flipped}}, "forbidden")
Sec.attack!(node, "truncated_token", {:acquire, victim.id, %{token: head}}, "forbidden")
Sec.attack!(node, "token_plus_digit", {:acquire, victim.id, %{token: victim.token <> "0"}}, "forbidden")
# the token in upper case: the same 128 bits, not the wire form (all 32 digits decimal: p < 1e-6)
Sec.attack!(node, "uppercase_token", {:acquire, victim.id, %{token: String.upcase(victim.token)}}, "forbidden")

refused =
  Enum.count(1..guesses, fn _ ->
    Sec.outcome(E2E.call(node, {:acquire, victim.id, %{token: Sec.random_token()}})) == "forbidden"
  end)

E2E.emit("TOKEN_GUESSES_REFUSED", refused)
E2E.check!(refused == guesses, "#{guesses - refused} of #{guesses} guessed tokens were not refused")

other = E2E.ok!(node, {:allocate, 4096, %{label: "sec-other"}})
Sec.attack!(node, "swapped_token", {:acquire, victim.id, %{token: other.token}}, "forbidden")
# control: the real token works
Sec.attack!(node, "right_token", {:acquire, victim.id, %{token: victim.token}}, "ok")
E2E.check!(E2E.call(node, {:release, victim.id, %{}}) == :ok, "release after the right-token acquire")

# acquire_token :optional lets a missing token through, never a wrong one.
E2E.ok!(node, {:config, {:set, %{acquire_token: :optional}}})
E2E.check!(E2E.ok!(node, :health).security.acquire_token == :optional, "health.security.acquire_token")
Sec.attack!(node, "optional_no_token", {:acquire, victim.id, %{}}, "ok")
E2E.check!(E2E.call(node, {:release, victim.id, %{}}) == :ok, "release after the optional acquire")
Sec.attack!(node, "optional_wrong_token", {:acquire, victim.id, %{token: Sec.random_token()}}, "forbidden")
E2E.ok!(node, {:config, {:set, %{acquire_token: :required}}})
E2E.check!(E2E.ok!(node, :health).security.acquire_token == :required, "health.security.acquire_token")

# A freed region: in its grace period, then deallocated, then its slot reused.
freed = E2E.ok!(node, {:allocate, 4096, %{label: "sec-freed"}})
E2E.check!(E2E.call(node, {:free, freed.id}) == :ok, "free of the region to be freed")
Sec.attack!(node, "freed_in_grace", {:acquire, freed.id, %{token: freed.token}}, "forbidden")
gc = E2E.ok!(node, :gc)
E2E.check!(gc.deallocated == 1, ":gc deallocated #{gc.deallocated}, expected only the freed region")
Sec.attack!(node, "freed_id_acquire", {:acquire, freed.id, %{token: freed.token}}, "not_found:freed")
Sec.attack!(node, "freed_id_info", {:info, freed.id}, "not_found:freed")
Sec.attack!(node, "freed_id_release", {:release, freed.id, %{}}, "not_found:freed")
Sec.attack!(node, "freed_id_free", {:free, freed.id}, "not_found:freed")

reused = E2E.ok!(node, {:allocate, 4096, %{label: "sec-reused-slot"}})

E2E.check!(
  String.slice(reused.id, 10, 6) == String.slice(freed.id, 10, 6),
  "the new region #{reused.id} should take the freed region's slot (#{freed.id})"
)

Sec.attack!(node, "stale_id", {:acquire, freed.id, %{token: freed.token}}, "not_found:stale_generation")
Sec.attack!(node, "stale_token_on_new_region", {:acquire, reused.id, %{token: freed.token}}, "forbidden")

# Tokens are never shown by info, list, stats or health.
shown =
  [{:info, victim.id}, {:list, %{}}, :stats, :health]
  |> Enum.map(fn request -> inspect(E2E.ok!(node, request), limit: :infinity, printable_limit: :infinity) end)
  |> Enum.join("\n")

for desc <- [victim, other, reused], do: Sec.refute_contains!(shown, desc.token, "info/list/stats/health")
E2E.emit("ATTACK_harvest_tokens_from_reports", "none_shown")

Sec.emit_counts(node)

# Protocol fuzzer: sends TERMS generated requests (fuzz_terms.exs, seeded by SEED) with
# GenServer.call, each with a 5 s timeout, and checks every reply:
#
#   * a request the oracle (fuzz_oracle.exs) finds malformed must get
#     {:error, %{code: c, message: binary, remediation: binary | nil}}, c a contract code;
#   * one it finds surely refused (an acquire of the canary without its token, an
#     operator key given to this node, which has none) must get such an error with
#     c = :forbidden;
#   * a well-formed one may get any well-shaped reply (counted apart; regions it happened
#     to allocate are released afterwards);
#   * no call may time out.
#
# Protocol with the harness (stdin go-ahead lines):
#   1. warm-up (WARMUP_TERMS requests of another seed, the heavy ones among them), a
#      canary region, prints WARM=1 and waits: the harness reads the node's RSS and the
#      shm dir;
#   2. the fuzzing, then releases what well-formed requests allocated, :gc; checks that the
#      node's stats.errors grew by exactly the error replies seen, that the configuration
#      and the canary are unchanged and that the region count is back; prints the figures
#      and FUZZED=1 and waits: the harness reads RSS and the shm dir again;
#   3. :health, a normal allocate/write/read/release, releases the canary; prints
#      HEALTH, ROUND_TRIP, REGIONS_END and DONE=1.
# Exits 1 when a check fails (BAD, TIMEOUTS or a mismatch are printed first).
#
#   elixir ... fuzz.exs NODE SEED TERMS
Code.require_file("support.exs", __DIR__)
Code.require_file("fuzz_terms.exs", __DIR__)
Code.require_file("fuzz_oracle.exs", __DIR__)
Code.require_file("fuzz_run.exs", __DIR__)

{node, [seed, count]} = E2E.args()
E2E.connect!(node)
seed = String.to_integer(seed)
count = String.to_integer(count)
# Enough to bring the node's heap and stacks to their working size (it includes the
# heavy terms), so that what grows afterwards is what the fuzzing leaves behind.
warmup_terms = 1_000

max_os_pid =
  case File.read("/proc/sys/kernel/pid_max") do
    {:ok, text} -> String.to_integer(String.trim(text))
    {:error, _} -> 4_194_304
  end

config_before = E2E.ok!(node, {:config, :get})
config_keys = config_before |> Map.keys() |> Enum.sort()
regions_start = E2E.ok!(node, :stats).regions

# 1. Warm-up (another seed), canary, baseline.
canary = E2E.ok!(node, {:allocate, 4096, %{label: "e2e-fuzz-canary"}})
oracle = Fuzz.Oracle.context(config_before, max_os_pid, canary, E2E.ok!(node, :health))
Fuzz.Terms.seed!(seed + 1)
pools = Fuzz.Terms.pools(canary, config_keys)
heavy = Fuzz.Terms.heavy(pools)
warm = Fuzz.Run.fuzz(node, pools, Fuzz.Run.tally(), warmup_terms, heavy, oracle)
E2E.check!(warm.bad == 0 and warm.timeouts == 0, "warm-up failed: #{inspect(warm.samples)}")
E2E.emit("WARMUP_TERMS", warm.terms)
Fuzz.Run.release_all(node, warm.allocated)
E2E.ok!(node, :gc)

canary_bytes = :crypto.strong_rand_bytes(4096)
E2E.pwrite!(canary, canary_bytes)
canary_info = E2E.ok!(node, {:info, canary.id})
stats_before = E2E.ok!(node, :stats)
E2E.emit("REGIONS_BEFORE", stats_before.regions)
E2E.emit("WARM", 1)
E2E.await_line!()

# 2. Fuzzing.
Fuzz.Terms.seed!(seed)
started_ms = System.monotonic_time(:millisecond)
result = Fuzz.Run.fuzz(node, pools, Fuzz.Run.tally(), count, heavy, oracle)
fuzz_ms = System.monotonic_time(:millisecond) - started_ms

# Regions that well-formed requests happened to allocate are released, then collected.
{released, cleanup_not_found} = Fuzz.Run.release_all(node, result.allocated)
E2E.ok!(node, :gc)
stats_after = E2E.ok!(node, :stats)
regions_after = stats_after.regions

for {kind, n} <- Enum.sort(result.kinds), do: E2E.emit("KIND_#{kind}", n)
for {code, n} <- Enum.sort(result.codes), do: E2E.emit("REPLY_#{code}", n)

# The node's error counters grew by exactly the error replies seen (the fuzzing's and
# the cleanup's :not_found replies).
seen_codes = Map.update(result.codes, :not_found, cleanup_not_found, &(&1 + cleanup_not_found))
error_codes = Map.keys(seen_codes) -- [:ok]
errors_before = Map.get(stats_before, :errors, %{})
errors_after = Map.get(stats_after, :errors, %{})

error_mismatches =
  Enum.uniq(error_codes ++ Map.keys(errors_after))
  |> Enum.flat_map(fn code ->
    delta = Map.get(errors_after, code, 0) - Map.get(errors_before, code, 0)
    seen = Map.get(seen_codes, code, 0)
    if delta == seen, do: [], else: ["#{code}: stats +#{delta}, replies #{seen}"]
  end)

for code <- error_codes do
  delta = Map.get(errors_after, code, 0) - Map.get(errors_before, code, 0)
  E2E.emit("STATS_ERRORS_DELTA_#{code}", delta)
end

E2E.emit("SEED", seed)
E2E.emit("TERMS", result.terms)
E2E.emit("INVALID", result.invalid)
E2E.emit("FORBIDDEN", result.forbidden)
E2E.emit("MAYBE_VALID", result.maybe_valid)
E2E.emit("OK_REPLIES", result.ok_replies)
E2E.emit("VALID_ALLOCATIONS_RELEASED", released)
E2E.emit("WELL_FORMED_REJECTED", result.rejected_well_formed)
E2E.emit("TIMEOUTS", result.timeouts)
E2E.emit("BAD", result.bad)
E2E.emit("INTERNAL", result.internal + warm.internal)
E2E.emit("FUZZ_MS", fuzz_ms)
E2E.emit("MAX_CALL_MS", div(result.max_call_us, 1000))
E2E.emit("MAX_CALL_KIND", result.max_call_kind)
E2E.emit("REGIONS_AFTER", regions_after)
errors_match = if error_mismatches == [], do: "ok", else: Enum.join(error_mismatches, "; ")
E2E.emit("ERRORS_MATCH", errors_match)

for {line, i} <- Enum.reverse(result.samples ++ warm.samples) |> Enum.with_index(),
    do: E2E.emit("SAMPLE_#{i}", line)

for {line, i} <- result.notes |> Enum.reverse() |> Enum.with_index(),
    do: E2E.emit("NOTE_#{i}", line)

config_after = E2E.ok!(node, {:config, :get})
E2E.emit("CONFIG", if(config_after == config_before, do: "unchanged", else: inspect(config_after)))
canary_after = E2E.ok!(node, {:info, canary.id})

canary_ok =
  E2E.pread!(canary) == canary_bytes and
    Map.delete(canary_after, :last_access_ms) == Map.delete(canary_info, :last_access_ms)

E2E.emit("CANARY", if(canary_ok, do: "ok", else: "changed: #{inspect(canary_after)}"))
E2E.emit("FUZZED", 1)
E2E.await_line!()

# 3. The node still serves normally.
E2E.emit("HEALTH", E2E.ok!(node, :health).status)
desc = E2E.ok!(node, {:allocate, 100_000, %{label: "e2e-fuzz-after"}})
bytes = :crypto.strong_rand_bytes(100_000)
E2E.pwrite!(desc, bytes)
read_back = E2E.pread!(desc)
E2E.check!(E2E.call(node, {:release, desc.id, %{}}) == :ok, "release after fuzzing failed")
E2E.emit("ROUND_TRIP", if(read_back == bytes, do: "ok", else: "bytes differ"))
E2E.check!(E2E.call(node, {:release, canary.id, %{}}) == :ok, "canary release failed")
E2E.ok!(node, :gc)
E2E.emit("REGIONS_END", E2E.ok!(node, :stats).regions)
E2E.emit("REGIONS_START", regions_start)
E2E.emit("DONE", 1)

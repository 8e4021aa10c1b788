package io.snakepit.shm.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.security.SecureRandom;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;

/**
 * Protocol fuzzer: at least 10,000 generated malformed or random requests (wrong arity,
 * huge and negative integers and bignums, terms nested 100,000 deep, binaries of several
 * MB, wrong types, unknown atoms, random options, ids and configuration changes) sent with
 * GenServer.call by test/src/test/elixir/fuzz.exs. Every call gets a reply within 5 s, every
 * malformed request an error with a contract code, every well-formed one the node must refuse
 * (an acquire of a live region without its capability token, an operator key given to a node
 * that has none) a {@code :forbidden} error; afterwards the node is healthy, serves
 * a normal allocate/write/read/release, counted the errors in its stats, leaked no region
 * or segment, its resident memory did not grow by more than {@link #MAX_RSS_GROWTH_KIB} and
 * its live Java objects (after a full GC, counted by {@code jcmd}) by more than {@link
 * #MAX_LIVE_HEAP_GROWTH_KIB}. Memory is compared with the state after a warm-up that already
 * sent every kind of request (the heavy ones too), so that the JVM's heap has grown to its
 * working size: RSS mostly shows heap the JVM touched once and keeps, the live objects show
 * what is leaked.
 *
 * <p>The run is reproducible from its seed: {@code -Dsnakepit.fuzz.seed=N} (or env
 * {@code SNAKEPIT_FUZZ_SEED}; {@code random} picks one and prints it). {@code
 * -Dsnakepit.fuzz.terms=N} (env {@code SNAKEPIT_FUZZ_TERMS}) sends more terms (at least
 * 10,000).
 */
class ProtocolFuzzIT extends E2eTest {
    private static final long DEFAULT_SEED = 20_240_601L;
    private static final int MIN_TERMS = 10_000;
    private static final long MAX_RSS_GROWTH_KIB = 256 * 1024;
    /** Live Java objects may grow this much (a leak of 1.6 KiB per request would not fit). */
    private static final long MAX_LIVE_HEAP_GROWTH_KIB = 16 * 1024;
    /** Time for the JVM's heap and allocator to settle before RSS is read. */
    private static final Duration SETTLE = Duration.ofSeconds(2);
    private static final Duration PHASE_TIMEOUT = Duration.ofSeconds(120);

    @Test
    void everyRandomRequestGetsAnErrorReplyAndTheNodeStaysHealthy() {
        long seed = seed();
        int terms = Math.max(MIN_TERMS, Integer.parseInt(setting("snakepit.fuzz.terms", "SNAKEPIT_FUZZ_TERMS",
                Integer.toString(MIN_TERMS))));
        System.out.printf("ProtocolFuzzIT: seed %d, %d terms (rerun with -Dsnakepit.fuzz.seed=%d)%n", seed, terms,
                seed);
        harness.startNode();
        long javaPid = harness.node().pid();
        String command = ProcessHandle.of(javaPid).flatMap(h -> h.info().command()).orElse("");
        assertTrue(command.endsWith("/java"), "the launcher execs java; pid " + javaPid + " runs " + command);

        long rssStartKib = JvmMemory.rssKib(javaPid);
        ManagedProcess fuzz = harness.startElixir("fuzz", Long.toString(seed), Integer.toString(terms));
        fuzz.awaitLine(line -> line.equals("WARM=1"), PHASE_TIMEOUT, "WARM=1");
        List<String> shmBefore = harness.shmEntries();
        Memory before = Memory.settled(javaPid);
        fuzz.writeLine("go");

        fuzz.awaitLine(line -> line.equals("FUZZED=1"), PHASE_TIMEOUT, "FUZZED=1");
        List<String> shmAfter = harness.shmEntries();
        Memory after = Memory.settled(javaPid);
        fuzz.writeLine("go");
        int status = fuzz.awaitExit(E2eHarness.SCRIPT_TIMEOUT);
        ScriptResult result = new ScriptResult(status, fuzz.stdout(), fuzz.describeOutput());
        Map<String, String> values = result.values();

        System.out.printf("ProtocolFuzzIT: %s terms in %s ms (slowest call %s ms, %s); kinds {%s}; replies {%s}; "
                + "malformed %s, forbidden %s, well-formed %s (%s ok replies, %s rejected)%n", values.get("TERMS"),
                values.get("FUZZ_MS"), values.get("MAX_CALL_MS"), values.get("MAX_CALL_KIND"), prefixed(values, "KIND_"),
                prefixed(values, "REPLY_"), values.get("INVALID"), values.get("FORBIDDEN"), values.get("MAYBE_VALID"),
                values.get("OK_REPLIES"), values.get("WELL_FORMED_REJECTED"));
        System.out.printf("ProtocolFuzzIT: node RSS %d MiB at start, %d MiB after the warm-up of %s terms, %d MiB after"
                + " fuzzing (%+d MiB); live Java objects %d KiB -> %d KiB (%+d KiB)%n", rssStartKib / 1024,
                before.rssKib() / 1024, values.get("WARMUP_TERMS"), after.rssKib() / 1024,
                (after.rssKib() - before.rssKib()) / 1024, before.liveHeapKib(), after.liveHeapKib(),
                after.liveHeapKib() - before.liveHeapKib());

        String samples = prefixed(values, "SAMPLE_");
        assertEquals("0", values.get("TIMEOUTS"), "calls without a reply within 5 s: " + samples);
        assertEquals("0", values.get("BAD"), "replies of the wrong shape or code: " + samples);
        assertEquals("0", values.get("INTERNAL"), "requests that hit an unexpected exception in the node "
                + "('request could not be handled'): " + samples);
        result.assertSucceeded();
        assertEquals(terms, result.getLong("TERMS"));
        assertTrue(result.getLong("INVALID") >= terms * 9L / 10, "malformed requests: " + values.get("INVALID"));
        assertTrue(result.getLong("FORBIDDEN") > 0, "requests the node must refuse with :forbidden were sent");
        assertEquals("ok", result.get("ERRORS_MATCH"), "stats.errors grew by the error replies seen");
        assertEquals("unchanged", result.get("CONFIG"));
        assertEquals("ok", result.get("CANARY"));
        assertEquals(result.getLong("REGIONS_BEFORE"), result.getLong("REGIONS_AFTER"), "regions after fuzzing");
        assertEquals(shmBefore, shmAfter, "segment files in " + harness.shmDir() + " after fuzzing");
        assertTrue(after.rssKib() - before.rssKib() <= MAX_RSS_GROWTH_KIB, "the node's RSS grew from "
                + before.rssKib() + " KiB to " + after.rssKib() + " KiB, more than " + MAX_RSS_GROWTH_KIB + " KiB");
        assertTrue(after.liveHeapKib() - before.liveHeapKib() <= MAX_LIVE_HEAP_GROWTH_KIB, "the node's live Java"
                + " objects grew from " + before.liveHeapKib() + " KiB to " + after.liveHeapKib() + " KiB, more than "
                + MAX_LIVE_HEAP_GROWTH_KIB + " KiB: something the requests left is still referenced");
        assertEquals("ok", result.get("HEALTH"));
        assertEquals("ok", result.get("ROUND_TRIP"));
        assertEquals(result.getLong("REGIONS_START"), result.getLong("REGIONS_END"), "regions at the end");
        assertTrue(harness.node().isAlive(), harness.node().describeOutput());
    }

    private static long seed() {
        String value = setting("snakepit.fuzz.seed", "SNAKEPIT_FUZZ_SEED", Long.toString(DEFAULT_SEED));
        if (value.equals("random")) {
            return new SecureRandom().nextLong() >>> 16;
        }
        try {
            return Long.parseLong(value);
        } catch (NumberFormatException e) {
            return fail("snakepit.fuzz.seed must be an integer or 'random', got '" + value + "'");
        }
    }

    /** A system property, else an environment variable, else {@code fallback}. */
    private static String setting(String property, String environment, String fallback) {
        String value = System.getProperty(property);
        if (value == null || value.isBlank()) {
            value = System.getenv(environment);
        }
        return value == null || value.isBlank() ? fallback : value.trim();
    }

    /** The node's live Java objects (after a full GC) and then, {@link #SETTLE} later, its RSS. */
    private record Memory(long liveHeapKib, long rssKib) {
        static Memory settled(long pid) {
            long liveHeapKib = JvmMemory.liveHeapKib(pid);
            try {
                Thread.sleep(SETTLE.toMillis());
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return fail("interrupted");
            }
            return new Memory(liveHeapKib, JvmMemory.rssKib(pid));
        }
    }

    private static String prefixed(Map<String, String> values, String prefix) {
        return values.entrySet().stream().filter(e -> e.getKey().startsWith(prefix))
                .map(e -> e.getKey().substring(prefix.length()) + "=" + e.getValue())
                .collect(Collectors.joining(", "));
    }
}

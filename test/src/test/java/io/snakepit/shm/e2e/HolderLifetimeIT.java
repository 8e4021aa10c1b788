package io.snakepit.shm.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * Region lifetime follows its holders: when an Elixir holder process or a Python OS-process
 * holder dies, its references are dropped and the region is deallocated after the grace
 * period.
 */
class HolderLifetimeIT extends E2eTest {
    private static final long GRACE_MS = 300;
    /** What "promptly" means on top of the grace period (and the os_pid poll interval). */
    private static final long SLACK_MS = 1000;

    @Test
    void killedElixirHolderRegionIsGoneWithinOneSecondAfterGrace() {
        harness.startNode();
        ScriptResult result = harness.runElixir("holder_killed", Long.toString(GRACE_MS)).assertSucceeded();

        assertEquals(GRACE_MS, result.getLong("GRACE_MS"));
        for (String region : new String[] {"0", "1"}) {
            long elapsedMs = result.getLong("ELAPSED_MS_" + region);
            assertTrue(elapsedMs <= GRACE_MS + SLACK_MS, "region " + region + " deallocated " + elapsedMs
                    + " ms after its holder was killed; expected <= grace " + GRACE_MS + " + " + SLACK_MS + " ms");
            assertTrue(elapsedMs >= GRACE_MS - 25, "region " + region + " deallocated " + elapsedMs
                    + " ms after its holder was killed, before the grace period of " + GRACE_MS + " ms");
        }
        assertEquals(0, result.getLong("REGIONS_LEFT"), "live regions after both were deallocated");
    }

    @Test
    void killedPythonProcessHolderReferencesAreDropped() {
        harness.startNode();
        PythonWorker python = harness.startPythonWorker();
        long pythonPid = python.ping();
        ManagedProcess script = harness.startElixir("os_pid_holder", Long.toString(pythonPid), "200");
        script.awaitLine(line -> line.equals("READY=1"), E2eHarness.SCRIPT_TIMEOUT, "READY=1");
        Map<String, String> values = ScriptResult.parse(script.stdout());
        long graceMs = Long.parseLong(values.get("GRACE_MS"));
        long pollMs = Long.parseLong(values.get("POLL_MS"));
        assertEquals(200, graceMs, "grace_ms after {:config, {:set, ...}}");

        // The worker maps the region too, like a real consumer, then dies without cleanup.
        python.hold(values.get("DESC_JSON"));
        python.process().kill();
        long killedNs = System.nanoTime();
        script.writeLine("killed");

        String line = script.awaitLine(l -> l.startsWith("ELAPSED_MS="), Duration.ofSeconds(40), "ELAPSED_MS");
        long elapsedMs = Duration.ofNanos(System.nanoTime() - killedNs).toMillis();
        assertEquals(0, script.awaitExit(E2eHarness.SCRIPT_TIMEOUT), script.describeOutput());
        long limitMs = graceMs + pollMs + SLACK_MS;
        assertTrue(elapsedMs <= limitMs, "region " + values.get("ID") + " deallocated " + elapsedMs
                + " ms after its only holder, python pid " + pythonPid + ", was killed; expected <= grace "
                + graceMs + " + os_pid poll " + pollMs + " + " + SLACK_MS + " ms (script: " + line + ")");
    }
}

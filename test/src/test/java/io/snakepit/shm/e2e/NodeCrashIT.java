package io.snakepit.shm.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * A node killed with SIGKILL leaves its segments behind; the next node started on the same
 * shm dir (here under the same name) proves the dead run's manager gone and reclaims them
 * before it serves, and says so in its log.
 */
class NodeCrashIT extends E2eTest {

    @Test
    void aRestartAfterKillMinus9ReclaimsTheDeadRunsSegments() {
        harness.startNode();
        ManagedProcess holder = harness.startIdleProcess();
        ScriptResult held = harness.runElixir("allocate_held", Long.toString(holder.pid())).assertSucceeded();
        List<Path> left = new ArrayList<>();
        for (int i = 0; i < held.getLong("COUNT"); i++) {
            left.add(Path.of(held.get("PATH_" + i)));
        }

        harness.node().kill();
        for (Path p : left) {
            assertTrue(Files.exists(p), "SIGKILL gives the node no chance to clean up: " + p);
        }

        harness.restartNode();
        for (Path p : left) {
            assertFalse(Files.exists(p), "not reclaimed after the restart: " + p);
        }
        String log = awaitStderr("stale sweep: reclaimed");
        assertTrue(log.contains("stale sweep: reclaimed"), "the sweep logs what it reclaimed:\n" + log);
        assertTrue(log.contains("no process"), "and why:\n" + log);
        assertEquals("ok", harness.runElixir("health").assertSucceeded().get("HEALTH"));
    }

    @Test
    void theOfflineSweepReportsADeadRunsSegmentsAndReclaimsThemWhenTold() {
        harness.startNode();
        ManagedProcess holder = harness.startIdleProcess();
        ScriptResult held = harness.runElixir("allocate_held", Long.toString(holder.pid())).assertSucceeded();
        long count = held.getLong("COUNT");
        harness.node().kill();
        long files = harness.shmEntries().size();
        assertTrue(files >= 2, "segments left by the killed node: " + files);

        ManagedProcess dry = harness.startLauncher("sweep-dry",
                java.util.List.of("sweep", "--shm-dir", harness.shmDir().toString()));
        assertEquals(0, dry.awaitExit(java.time.Duration.ofSeconds(30)), dry.describeOutput());
        assertTrue(dry.stdout().contains(files + " of dead managers found (dry run"), dry.stdout());
        assertEquals(files, harness.shmEntries().size(), "a dry run removes nothing");

        ManagedProcess reclaim = harness.startLauncher("sweep-reclaim",
                java.util.List.of("sweep", "--shm-dir", harness.shmDir().toString(), "--reclaim", "--json"));
        assertEquals(0, reclaim.awaitExit(java.time.Duration.ofSeconds(30)), reclaim.describeOutput());
        assertTrue(reclaim.stdout().contains("\"reclaimed\":" + files), reclaim.stdout());
        assertEquals(java.util.List.of(), harness.shmEntries(), "regions held: " + count);
    }

    /** The node's stderr once it contains {@code text}, or after 5 s (stderr is read asynchronously). */
    private String awaitStderr(String text) {
        long deadline = System.nanoTime() + 5_000_000_000L;
        String log = harness.node().stderr();
        while (!log.contains(text) && System.nanoTime() < deadline) {
            try {
                Thread.sleep(20);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                break;
            }
            log = harness.node().stderr();
        }
        return log;
    }
}

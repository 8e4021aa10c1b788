package io.snakepit.shm.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * A node that is told to stop (SIGTERM, or EOF on stdin with --exit-on-stdin-eof) exits
 * with status 0 and unlinks every segment it made, even those still held by live OS
 * processes.
 */
class ShutdownIT extends E2eTest {
    private static final Duration EXIT_TIMEOUT = Duration.ofSeconds(30);

    @Test
    void sigtermLeavesTheShmDirEmpty() {
        harness.startNode();
        ManagedProcess holder = allocateHeldRegions();

        harness.node().terminate();
        int status = harness.node().awaitExit(EXIT_TIMEOUT);

        assertEquals(0, status, "exit status after SIGTERM\n" + harness.node().describeOutput());
        assertEquals(List.of(), harness.shmEntries(), "left in " + harness.shmDir() + " after SIGTERM");
        assertTrue(holder.isAlive(), "the regions' holder was alive all along");
    }

    @Test
    void stdinEofLeavesTheShmDirEmpty() {
        harness.startNode();
        ManagedProcess holder = allocateHeldRegions();

        harness.node().closeStdin();
        int status = harness.node().awaitExit(EXIT_TIMEOUT);

        assertEquals(0, status, "exit status after EOF on stdin\n" + harness.node().describeOutput());
        assertEquals(List.of(), harness.shmEntries(), "left in " + harness.shmDir() + " after EOF on stdin");
        assertTrue(holder.isAlive(), "the regions' holder was alive all along");
    }

    /**
     * Allocates regions held by a live OS process (not by the script, so they outlive it)
     * and checks their segment files exist in the node's shm dir. Returns the holder.
     */
    private ManagedProcess allocateHeldRegions() {
        ManagedProcess holder = harness.startIdleProcess();
        ScriptResult result = harness.runElixir("allocate_held", Long.toString(holder.pid())).assertSucceeded();
        long count = result.getLong("COUNT");
        assertTrue(count >= 2);
        for (int i = 0; i < count; i++) {
            Path path = Path.of(result.get("PATH_" + i));
            assertEquals(harness.shmDir(), path.getParent(), "segment outside the node's --shm-dir");
            assertTrue(Files.isRegularFile(path), "segment file missing while held: " + path);
        }
        assertFalse(harness.shmEntries().isEmpty());
        return holder;
    }
}

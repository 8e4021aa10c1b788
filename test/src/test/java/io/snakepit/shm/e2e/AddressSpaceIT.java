package io.snakepit.shm.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * A node whose address space is too small for a whole pooled segment (RLIMIT_AS lowered
 * on the running JVM with prlimit) falls back to mapping only the windows it needs, says
 * so in its log, and keeps serving: bytes written in Elixir still hash the same in Python.
 */
class AddressSpaceIT extends E2eTest {
    private static final long MIB = 1024 * 1024;

    @Test
    void aNodeWithoutRoomForAWholeSegmentMapsWindowsAndKeepsServing() throws Exception {
        Path config = harness.shmDir().getParent().resolve(harness.shmDir().getFileName() + ".conf");
        Files.writeString(config, "pool_segment_bytes = " + 1024 * MIB + "\n");
        try {
            harness.startNode("--config", config.toString());
        } finally {
            Files.deleteIfExists(config);
        }
        long pid = harness.node().pid();
        long limitBytes = vmSizeBytes(pid) + 256 * MIB;
        Process prlimit = new ProcessBuilder("prlimit", "--pid", Long.toString(pid), "--as=" + limitBytes)
                .redirectErrorStream(true).start();
        assertTrue(prlimit.waitFor(10, TimeUnit.SECONDS) && prlimit.exitValue() == 0,
                "prlimit failed: " + new String(prlimit.getInputStream().readAllBytes()));

        PythonWorker python = harness.startPythonWorker();
        long[] sizes = {100, 4096, 200_000};
        ScriptResult written = harness.runElixir("write_random", Long.toString(python.ping()),
                Long.toString(sizes[0]), Long.toString(sizes[1]), Long.toString(sizes[2])).assertSucceeded();
        for (int i = 0; i < sizes.length; i++) {
            assertEquals(written.get("SHA256_" + i), python.sha256(written.get("DESC_JSON_" + i), sizes[i]),
                    "region " + i + " through a windowed segment");
        }
        String log = harness.node().stderr();
        assertTrue(log.contains("mapping only the windows each access needs"),
                "the fallback is logged:\n" + log);
        assertEquals("ok", harness.runElixir("health").assertSucceeded().get("HEALTH"));
    }

    private static long vmSizeBytes(long pid) throws IOException {
        for (String line : Files.readAllLines(Path.of("/proc/" + pid + "/status"))) {
            if (line.startsWith("VmSize:")) {
                return Long.parseLong(line.replaceAll("[^0-9]", "")) * 1024;
            }
        }
        throw new IOException("no VmSize for pid " + pid);
    }
}

package io.snakepit.shm.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;

/**
 * Both worker profiles of the Snakepit adapter (elixir_demo's SnakepitShm.Snakepit.Pool and
 * SessionStore) serve one session's regions through shared memory, against a real node and
 * real Python workers: the thread profile runs 4 requests at once in one Python process
 * that maps their common segment once; the process profile runs requests in parallel on
 * separate processes; every result is checked here by reading the segment files directly;
 * ending the session frees every region and nothing of the workers is left.
 */
class WorkerProfilesIT extends E2eTest {
    private static final Duration SCRIPT_TIMEOUT = Duration.ofSeconds(180);
    private static final int THREAD_OUTPUTS = 4;
    private static final int PROCESS_OUTPUTS = 2;
    private static final int INPUTS = 4;

    @Test
    void threadAndProcessWorkersServeOneSessionThroughSharedMemory() {
        harness.startNode();
        ManagedProcess script = harness.startElixir("worker_profiles");
        script.awaitLine(line -> line.startsWith("READY="), SCRIPT_TIMEOUT, "READY= from worker_profiles.exs");
        Map<String, String> ready = ScriptResult.parse(script.stdout());
        String transcript = script.describeOutput();

        // Thread profile: one Python process with 4 threads served everything, 4 at once,
        // and mapped the inputs' one segment once while holding all 4 regions.
        assertEquals("1", value(ready, "INPUT_SEGMENTS", transcript), "the 4 inputs should share one segment");
        assertEquals("4", value(ready, "THREAD_THREADS", transcript), transcript);
        assertEquals("1", value(ready, "MAPS_LINES", transcript),
                "the thread worker should map the shared segment once for 4 held regions\n" + transcript);
        assertEquals("4", value(ready, "HELD_CLOSED", transcript), transcript);
        assertEquals("4", value(ready, "THREAD_PEAK_LOAD", transcript),
                "4 requests should have been in flight on the thread worker at once\n" + transcript);
        assertEquals("0", value(ready, "THREAD_RESTARTS", transcript), transcript);
        assertEquals("0", value(ready, "THREAD_ERRORS", transcript), transcript);
        String threadPid = value(ready, "THREAD_PID", transcript);
        for (int k = 1; k <= THREAD_OUTPUTS; k++) {
            assertEquals(threadPid, value(ready, "T_OUT_" + k + "_PID", transcript), "thread output " + k);
        }

        // Process profile: two processes, both used by the two concurrent requests.
        List<String> processPids = List.of(value(ready, "PROCESS_PIDS", transcript).split(","));
        assertEquals(2, new HashSet<>(processPids).size(), transcript);
        assertFalse(processPids.contains(threadPid), transcript);
        assertEquals(Set.copyOf(processPids), Set.of(value(ready, "P_CONTEND_PIDS", transcript).split(",")),
                "2 concurrent requests should run on the 2 process workers\n" + transcript);
        assertNotEquals(value(ready, "P_OUT_1_PID", transcript), threadPid, transcript);

        // Every result, read here from the segment files: output = input * factor, bit for bit.
        for (int k = 1; k <= THREAD_OUTPUTS; k++) {
            checkOutput(ready, "T", k, transcript);
        }
        for (int k = 1; k <= PROCESS_OUTPUTS; k++) {
            checkOutput(ready, "P", k, transcript);
        }
        assertEquals(Integer.toString(INPUTS + THREAD_OUTPUTS + PROCESS_OUTPUTS),
                value(ready, "SESSION_REGIONS", transcript), transcript);

        // Ending the session frees all of it; the pools leave no Python process behind.
        script.writeLine("end");
        int status = script.awaitExit(SCRIPT_TIMEOUT);
        ScriptResult done = new ScriptResult(status, script.stdout(), script.describeOutput());
        done.assertSucceeded();
        assertEquals(INPUTS + THREAD_OUTPUTS + PROCESS_OUTPUTS, done.getLong("RELEASED"), done.transcript());
        assertEquals(0, done.getLong("SESSION_REGIONS_LEFT"), done.transcript());
        assertEquals(0, done.getLong("PYTHON_ALIVE_AFTER_STOP"), done.transcript());
        assertEquals(0, done.getLong("STORE_SESSIONS"), done.transcript());
        assertEquals("1", done.get("DONE"));
        for (String pid : concat(processPids, threadPid)) {
            assertFalse(ProcessHandle.of(Long.parseLong(pid)).map(ProcessHandle::isAlive).orElse(false),
                    "Python worker " + pid + " still runs\n" + done.transcript());
        }
        Set<Path> sessionSegments = new HashSet<>();
        for (String key : done.values().keySet()) {
            if (key.endsWith("_PATH")) {
                sessionSegments.add(Path.of(done.get(key)));
            }
        }
        assertFalse(sessionSegments.isEmpty(), done.transcript());
        for (Path segment : sessionSegments) {
            assertTrue(segment.startsWith(harness.shmDir()), segment + " is not in the test's shm dir");
            assertFalse(Files.exists(segment),
                    "segment " + segment + " of the ended session is still there (after :gc)\n" + done.transcript());
        }
    }

    private static void checkOutput(Map<String, String> values, String prefix, int k, String transcript) {
        String key = prefix + "_OUT_" + k + "_";
        int input = Integer.parseInt(value(values, key + "INPUT", transcript));
        double factor = Double.parseDouble(value(values, key + "FACTOR", transcript));
        byte[] in = readPayload(values, "IN_" + input + "_", transcript);
        byte[] out = readPayload(values, key, transcript);
        assertEquals(in.length, out.length, key + "SIZE\n" + transcript);
        ByteBuffer inValues = ByteBuffer.wrap(in).order(ByteOrder.LITTLE_ENDIAN);
        ByteBuffer outValues = ByteBuffer.wrap(out).order(ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; i < in.length / Double.BYTES; i++) {
            double expected = inValues.getDouble(i * Double.BYTES) * factor;
            double actual = outValues.getDouble(i * Double.BYTES);
            if (Double.doubleToLongBits(expected) != Double.doubleToLongBits(actual)) {
                fail(prefix + " output " + k + "[" + i + "] = " + actual + ", expected input[" + i + "] * "
                        + factor + " = " + expected + "\n" + transcript);
            }
        }
        assertTrue(in.length > 0, transcript);
        assertEquals(value(values, key + "SHA256", transcript), sha256(out),
                "Python's sha256 of " + prefix + " output " + k + " differs from the file's bytes\n" + transcript);
    }

    private static byte[] readPayload(Map<String, String> values, String key, String transcript) {
        Path path = Path.of(value(values, key + "PATH", transcript));
        long offset = Long.parseLong(value(values, key + "OFFSET", transcript));
        int size = Integer.parseInt(value(values, key + "SIZE", transcript));
        ByteBuffer buffer = ByteBuffer.allocate(size);
        try (FileChannel channel = FileChannel.open(path, StandardOpenOption.READ)) {
            while (buffer.hasRemaining()) {
                if (channel.read(buffer, offset + buffer.position()) < 0) {
                    return fail("short read of " + path + " at " + offset + "\n" + transcript);
                }
            }
        } catch (IOException e) {
            return fail("cannot read " + path + ": " + e.getMessage() + "\n" + transcript, e);
        }
        return buffer.array();
    }

    private static String value(Map<String, String> values, String key, String transcript) {
        String value = values.get(key);
        if (value == null) {
            return fail("worker_profiles.exs printed no " + key + "=...\n" + transcript);
        }
        return value;
    }

    private static List<String> concat(List<String> list, String extra) {
        List<String> all = new ArrayList<>(list);
        all.add(extra);
        return all;
    }

    private static String sha256(byte[] bytes) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bytes));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is always available", e);
        }
    }
}

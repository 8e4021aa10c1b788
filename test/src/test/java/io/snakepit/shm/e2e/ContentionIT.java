package io.snakepit.shm.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;

/**
 * Writers in three languages contend on one region (docs/SYNC.md): two Python processes
 * write directly under the cross-process lock and seqlock, and an Elixir process writes
 * through the node (the JVM writes for it). Python readers (lock-free) and the Elixir reader
 * (through the node) never see a torn value: every snapshot's words come from one write.
 */
class ContentionIT extends E2eTest {
    /** How long the Elixir side contends; Python's writers and readers run longer, so they
     * overlap it fully even when the Elixir BEAM is slow to start. */
    private static final int SECONDS = 4;
    private static final int PYTHON_SECONDS = SECONDS + 8;
    private static final int WORDS = 8192; // 64 KiB: a write takes long enough to be raced

    @Test
    void readersNeverSeeATornValueWhileJavaElixirAndPythonWritersContend() {
        harness.startNode();
        List<PythonWorker> writers = List.of(harness.startPythonWorker(), harness.startPythonWorker());
        List<PythonWorker> readers = List.of(harness.startPythonWorker(), harness.startPythonWorker());
        ScriptResult region = harness.runElixir("alloc_zeroed", Long.toString(writers.get(0).ping()),
                Integer.toString(WORDS * 8)).assertSucceeded();
        String desc = region.get("DESC_JSON");

        for (int i = 0; i < writers.size(); i++) {
            writers.get(i).send(contend(desc, "writer", i + 1));
        }
        for (PythonWorker r : readers) {
            r.send(contend(desc, "reader", 0));
        }
        ScriptResult elixir = harness.runElixir("contend", region.get("ID"), region.get("TOKEN"),
                Integer.toString(SECONDS), Integer.toString(WORDS), "3").assertSucceeded();

        List<Map<String, String>> writerReplies = new ArrayList<>();
        for (PythonWorker w : writers) {
            writerReplies.add(parse(w.awaitReply("python writer")));
        }
        for (PythonWorker r : readers) {
            Map<String, String> reply = parse(r.awaitReply("python reader"));
            assertEquals("0", reply.get("torn"), "a Python reader saw a torn value: " + reply);
            assertTrue(Long.parseLong(reply.get("ops")) > 0, "the Python reader read: " + reply);
        }
        for (Map<String, String> reply : writerReplies) {
            assertTrue(Long.parseLong(reply.get("ops")) > 0, "the Python writer wrote: " + reply);
        }
        assertEquals(0, elixir.getLong("TORN"), "the Elixir reader saw a torn value\n" + elixir.transcript());
        assertTrue(elixir.getLong("WRITES") > 0);
        Set<String> seen = Arrays.stream(elixir.get("WRITERS_SEEN").split(",")).collect(Collectors.toSet());
        assertTrue(seen.contains("3") && (seen.contains("1") || seen.contains("2")),
                "the Elixir reader saw values of its own and of Python's writers: " + seen);
    }

    private static String contend(String desc, String role, int writerId) {
        return "{\"op\":\"contend\",\"region\":" + desc + ",\"role\":\"" + role + "\",\"seconds\":" + PYTHON_SECONDS
                + ",\"words\":" + WORDS + ",\"writer_id\":" + writerId + "}";
    }

    private static Map<String, String> parse(String line) {
        assertTrue(line.startsWith("ok"), "worker replied " + line);
        return Arrays.stream(line.substring(2).trim().split(" ")).filter(p -> p.contains("="))
                .collect(Collectors.toMap(p -> p.substring(0, p.indexOf('=')), p -> p.substring(p.indexOf('=') + 1)));
    }
}

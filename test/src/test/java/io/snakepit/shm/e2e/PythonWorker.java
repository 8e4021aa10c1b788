package io.snakepit.shm.e2e;

import static org.junit.jupiter.api.Assertions.fail;

import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * A real {@code python3 -m snakepit_shm.worker} process, driven by its line protocol: one
 * JSON request per line on stdin; one reply per line, {@code ok k=v ...} or
 * {@code error <code> <message>}.
 */
final class PythonWorker {
    private static final Duration REPLY_TIMEOUT = Duration.ofSeconds(30);

    private final ManagedProcess process;

    PythonWorker(ManagedProcess process) {
        this.process = process;
    }

    ManagedProcess process() {
        return process;
    }

    /** The worker's OS pid as it reports it (ping). */
    long ping() {
        return Long.parseLong(requestOk("{\"op\":\"ping\"}").get("pid"));
    }

    /** SHA-256 (lowercase hex) of the region's payload, read by Python through mmap. */
    String sha256(String descriptorJson, long expectedSizeBytes) {
        Map<String, String> reply = requestOk("{\"op\":\"sha256\",\"region\":" + descriptorJson + "}");
        if (Long.parseLong(reply.get("size")) != expectedSizeBytes) {
            fail("python saw size " + reply.get("size") + ", expected " + expectedSizeBytes);
        }
        return reply.get("sha256");
    }

    /** Sets every payload byte to {@code value} from Python. */
    void fill(String descriptorJson, int value) {
        requestOk("{\"op\":\"fill\",\"region\":" + descriptorJson + ",\"byte\":" + value + "}");
    }

    /** Keeps the region mapped in the worker until it exits. */
    void hold(String descriptorJson) {
        requestOk("{\"op\":\"hold\",\"region\":" + descriptorJson + "}");
    }

    /** Sends one request without waiting for its reply (see {@link #awaitReply}). */
    void send(String requestJson) {
        process.writeLine(requestJson);
    }

    /** The next reply line ({@code ok ...} or {@code error CODE ...}). */
    String awaitReply(String what) {
        return process.awaitLine(l -> l.startsWith("ok") || l.startsWith("error "), REPLY_TIMEOUT, what);
    }

    /** Sends one request and returns its reply line as is ({@code ok ...} or {@code error CODE ...}). */
    String request(String requestJson) {
        process.writeLine(requestJson);
        return process.awaitLine(l -> l.startsWith("ok") || l.startsWith("error "), REPLY_TIMEOUT,
                "reply to " + requestJson);
    }

    /** Sends one request; the reply must be {@code ok}; returns its key/value pairs. */
    Map<String, String> requestOk(String requestJson) {
        process.writeLine(requestJson);
        String line = process.awaitLine(l -> l.startsWith("ok") || l.startsWith("error "), REPLY_TIMEOUT,
                "reply to " + requestJson);
        if (!line.startsWith("ok")) {
            return fail("python worker replied '" + line + "' to " + requestJson + "\n" + process.describeOutput());
        }
        Map<String, String> values = new LinkedHashMap<>();
        for (String part : line.substring(2).trim().split(" ")) {
            int equals = part.indexOf('=');
            if (equals > 0) {
                values.put(part.substring(0, equals), part.substring(equals + 1));
            }
        }
        return values;
    }
}

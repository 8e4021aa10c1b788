package io.snakepit.shm.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import org.junit.jupiter.api.Test;

/**
 * A region header overwritten behind the manager's back (a stray write) is caught by the
 * header CRC: Python refuses to attach it, the node's periodic check marks the region
 * invalid and isolates it (acquire answers :invalid_region), and health degrades; the
 * neighbouring region in the same segment stays usable.
 */
class CorruptionIT extends E2eTest {

    @Test
    void aCorruptRegionHeaderIsRefusedIsolatedAndReported() throws Exception {
        harness.startNode();
        PythonWorker python = harness.startPythonWorker();
        ScriptResult written = harness.runElixir("write_random", Long.toString(python.ping()), "1000", "2000")
                .assertSucceeded();
        String badId = written.get("ID_0");
        String goodId = written.get("ID_1");
        String badToken = written.get("TOKEN_0");
        String goodToken = written.get("TOKEN_1");
        String badDescriptor = written.get("DESC_JSON_0");

        long offset = Long.parseLong(badDescriptor.replaceAll(".*\"offset\":(\\d+).*", "$1"));
        Path path = Path.of(badDescriptor.replaceAll(".*\"path\":\"([^\"]+)\".*", "$1"));
        try (FileChannel ch = FileChannel.open(path, StandardOpenOption.WRITE)) {
            ch.write(ByteBuffer.wrap(new byte[] {0x7F}), offset - 64 + 20); // inside the generation field
        }

        String reply = python.request("{\"op\":\"sha256\",\"region\":" + badDescriptor + "}");
        assertTrue(reply.startsWith("error invalid_region"), "python attach of a corrupt header: " + reply);

        // the periodic check runs every second
        Thread.sleep(2500);
        ScriptResult bad = harness.runElixir("acquire_code", badId, badToken).assertSucceeded();
        assertEquals("invalid_region", bad.get("CODE"), bad.transcript());
        assertEquals("invalid", bad.get("STATE"), bad.transcript());
        ScriptResult good = harness.runElixir("acquire_code", goodId, goodToken).assertSucceeded();
        assertEquals("ok", good.get("CODE"), "the neighbour in the same segment\n" + good.transcript());
        assertEquals("degraded", harness.runElixir("health").assertSucceeded().get("HEALTH"));
        assertTrue(harness.node().stderr().contains("is invalid: region header CRC-32 mismatch"),
                harness.node().stderr());
    }
}

package io.snakepit.shm.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Arrays;
import java.util.HexFormat;
import org.junit.jupiter.api.Test;

/**
 * Bytes cross the BEAM/Python boundary through shared memory unchanged: Elixir writes with
 * {@code :file.pwrite} at the descriptor's offset and Python, mapping the same segment,
 * hashes the same bytes; Python fills a payload and Elixir reads the same bytes back.
 */
class BytesRoundTripIT extends E2eTest {
    /** Pooled and dedicated sizes, none a multiple of 64 but the 1 MiB one. */
    private static final long[] SIZES_BYTES = {1, 100_003, 1_048_576, 3 * 1024 * 1024 + 7};

    @Test
    void bytesWrittenInElixirHashTheSameInPython() {
        harness.startNode();
        PythonWorker python = harness.startPythonWorker();
        long pythonPid = python.ping();

        String[] arguments = new String[SIZES_BYTES.length + 1];
        arguments[0] = Long.toString(pythonPid);
        for (int i = 0; i < SIZES_BYTES.length; i++) {
            arguments[i + 1] = Long.toString(SIZES_BYTES[i]);
        }
        ScriptResult written = harness.runElixir("write_random", arguments).assertSucceeded();

        for (int i = 0; i < SIZES_BYTES.length; i++) {
            String elixirSha = written.get("SHA256_" + i);
            String pythonSha = python.sha256(written.get("DESC_JSON_" + i), SIZES_BYTES[i]);
            assertEquals(elixirSha, pythonSha, "sha256 of the " + SIZES_BYTES[i] + "-byte region "
                    + written.get("ID_" + i) + ": Elixir wrote one thing, Python read another");
        }
    }

    @Test
    void bytesFilledInPythonReadBackTheSameInElixir() {
        harness.startNode();
        PythonWorker python = harness.startPythonWorker();
        long sizeBytes = 2_000_001;
        int fillByte = 0xA5;
        ScriptResult allocated = harness.runElixir("write_random", Long.toString(python.ping()),
                Long.toString(sizeBytes)).assertSucceeded();
        String descriptor = allocated.get("DESC_JSON_0");

        python.fill(descriptor, fillByte);
        String expected = sha256OfRepeated((byte) fillByte, (int) sizeBytes);
        assertEquals(expected, python.sha256(descriptor, sizeBytes), "Python's own view after its fill");

        ScriptResult readBack = harness.runElixir("read_back", allocated.get("ID_0"), allocated.get("TOKEN_0"))
                .assertSucceeded();
        assertEquals(sizeBytes, readBack.getLong("SIZE"), readBack.transcript());
        assertEquals(expected, readBack.get("SHA256"), "Elixir read back other bytes than Python filled\n"
                + readBack.transcript());
        assertEquals("ok", readBack.get("RELEASED"));
    }

    private static String sha256OfRepeated(byte value, int count) {
        byte[] bytes = new byte[count];
        Arrays.fill(bytes, value);
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bytes));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is always available", e);
        }
    }

}

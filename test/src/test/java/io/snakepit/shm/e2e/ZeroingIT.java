package io.snakepit.shm.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;

import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * Sensitive regions (whatever {@code zero_on_free} says, even {@code :never}), and every
 * region when {@code zero_on_free} is {@code :always}, are zeroed before their memory is
 * released or reused (SECURITY.md "Zeroing"): a Python process that kept its
 * mapping after the region was freed reads zeros, and a pooled block handed out again
 * never shows the previous holder's bytes. Every "reads zeros" check is preceded by a
 * check that the pattern really was there, through the same mapping.
 *
 * <p>Sizes: 4096 bytes is a pooled block cleared with a memset; 300,000 bytes is a pooled
 * block cleared by punching a hole (256 KiB and up); 2 MiB + 1 is over the 1 MiB
 * dedicated threshold, so it gets a segment file of its own, unlinked when it goes.
 */
class ZeroingIT extends E2eTest {
    private static final int PATTERN = 0xA5;
    private static final long POOLED = 4096;
    private static final long POOLED_PUNCHED = 300_000;
    private static final long DEDICATED = 2L * 1024 * 1024 + 1;

    /**
     * Under the default zero_on_free (:sensitive) and under :never, which cannot switch off
     * zeroing of regions marked sensitive.
     */
    @Test
    void aMappingKeptAfterASensitiveRegionIsFreedReadsZeros() {
        World w = start();
        assertKeptMappingReadsZerosAfter(w, "free", POOLED, true, 0);
        assertKeptMappingReadsZerosAfter(w, "free", DEDICATED, true, 1);
        w.setZeroOnFree("never");
        assertKeptMappingReadsZerosAfter(w, "free", POOLED, true, 2);
        assertKeptMappingReadsZerosAfter(w, "release", DEDICATED, true, 3);
        assertKeptMappingReadsZerosAfter(w, "release", POOLED_PUNCHED, true, 4);
    }

    @Test
    void zeroOnFreeAlwaysZeroesRegionsThatAreNotSensitive() {
        World w = start();
        w.setZeroOnFree("always");
        assertKeptMappingReadsZerosAfter(w, "release", POOLED, false, 0);
        assertKeptMappingReadsZerosAfter(w, "release", DEDICATED, false, 1);
        assertKeptMappingReadsZerosAfter(w, "free", POOLED_PUNCHED, false, 2);
    }

    /**
     * A pooled block freed and handed out again (same segment, same offset) reads all
     * zeros for its new holder: any region under :sensitive (the default; pooled blocks are
     * cleared unless :never) and :always, a sensitive one under :never. A non-sensitive
     * block under :never promises nothing about reused bytes, so it is not checked (and no
     * test asserts that bytes leak either).
     */
    @Test
    void reusedPooledMemoryNeverShowsThePreviousHoldersBytes() {
        World w = start();
        for (String zeroOnFree : new String[] {"sensitive", "always"}) {
            w.setZeroOnFree(zeroOnFree);
            assertReusedBlockReadsZeros(w, zeroOnFree, POOLED, false);
            assertReusedBlockReadsZeros(w, zeroOnFree, POOLED_PUNCHED, false);
        }
        w.setZeroOnFree("never");
        assertReusedBlockReadsZeros(w, "never", POOLED, true);
        assertReusedBlockReadsZeros(w, "never", POOLED_PUNCHED, true);
    }

    /**
     * Allocates a pooled region and a live neighbour of the same size (so the segment
     * stays in use), fills the region with the pattern, releases it, waits until it is
     * deallocated, allocates the same size again and checks the new region got the same
     * block (segment and offset) and reads all zeros.
     */
    private static void assertReusedBlockReadsZeros(World w, String zeroOnFree, long size, boolean sensitive) {
        Map<String, String> old = w.driver.command("alloc " + size + " " + sensitive);
        Map<String, String> neighbour = w.driver.command("alloc " + size + " false");
        assertEquals("0", old.get("DEDICATED_SEGMENTS"), "a " + size + "-byte region is pooled\n"
                + w.driver.transcript());
        String oldDesc = old.get("DESC_JSON");
        w.python.fill(oldDesc, PATTERN);
        assertEquals(sha256(size, PATTERN), w.python.sha256(oldDesc, size),
                "the previous holder's pattern is in the block before it is released\n" + w.driver.transcript());

        w.driver.command("release " + old.get("ID"));
        Map<String, String> reused = w.driver.command("alloc " + size + " false");

        String where = "old " + (sensitive ? "sensitive" : "non-sensitive") + " region " + old.get("ID") + " at "
                + old.get("SEGMENT") + "+" + old.get("OFFSET") + ", new region " + reused.get("ID") + " at "
                + reused.get("SEGMENT") + "+" + reused.get("OFFSET") + " (zero_on_free :" + zeroOnFree + ", "
                + size + " bytes)";
        assertEquals(old.get("SEGMENT") + "+" + old.get("OFFSET"), reused.get("SEGMENT") + "+" + reused.get("OFFSET"),
                "the new region must reuse the freed block for this test to mean anything: " + where + "\n"
                        + w.driver.transcript());
        assertNotEquals(old.get("ID"), reused.get("ID"), where);
        assertEquals(sha256(size, 0), w.python.sha256(reused.get("DESC_JSON"), size),
                "the new holder must read zeros, not the previous holder's bytes: " + where + "\n"
                        + w.driver.transcript());

        w.driver.command("release " + reused.get("ID"));
        w.driver.command("release " + neighbour.get("ID"));
    }

    /**
     * Allocates a region, maps it in Python (kept), fills it with the pattern through
     * another attach, checks the kept mapping shows the pattern, lets the region go with
     * {@code how} (free or release), waits until it is deallocated and checks the kept
     * mapping now reads zeros.
     */
    private static void assertKeptMappingReadsZerosAfter(World w, String how, long size, boolean sensitive,
            int heldIndex) {
        Map<String, String> region = w.driver.command("alloc " + size + " " + sensitive);
        String what = (sensitive ? "sensitive " : "non-sensitive ") + size + "-byte region " + region.get("ID")
                + " (" + region.get("SEGMENT") + "+" + region.get("OFFSET") + ")";
        long expectedDedicated = size > 1024 * 1024 ? 1 : 0;
        assertEquals(expectedDedicated, Long.parseLong(region.get("DEDICATED_SEGMENTS")),
                "dedicated segments after allocating the " + what + "\n" + w.driver.transcript());
        String desc = region.get("DESC_JSON");
        Map<String, String> held = w.python.requestOk("{\"op\":\"hold\",\"region\":" + desc + "}");
        assertEquals(heldIndex + 1, Integer.parseInt(held.get("held")), "regions held by the worker");
        w.python.fill(desc, PATTERN);
        assertEquals(sha256(size, PATTERN), heldSha256(w.python, heldIndex, size),
                "the kept mapping shows the pattern before the " + what + " goes\n" + w.driver.transcript());

        w.driver.command(how + " " + region.get("ID"));

        assertEquals(sha256(size, 0), heldSha256(w.python, heldIndex, size),
                "a mapping kept after the " + what + " was deallocated (" + how + ") must read zeros\n"
                        + w.driver.transcript() + w.python.process().describeOutput());
    }

    private World start() {
        harness.startNode();
        PythonWorker python = harness.startPythonWorker();
        DrivenScript driver = DrivenScript.start(harness, "zero_driver", Long.toString(python.ping()));
        return new World(python, driver);
    }

    private record World(PythonWorker python, DrivenScript driver) {
        void setZeroOnFree(String mode) {
            assertEquals(mode, driver.command("config zero_on_free " + mode).get("ZERO_ON_FREE"),
                    driver.transcript());
        }
    }

    private static String heldSha256(PythonWorker python, int index, long expectedSize) {
        Map<String, String> reply = python.requestOk("{\"op\":\"held_sha256\",\"index\":" + index + "}");
        assertEquals(expectedSize, Long.parseLong(reply.get("size")), "size of held region " + index);
        return reply.get("sha256");
    }

    /** SHA-256 (lowercase hex) of {@code size} bytes of value {@code value}. */
    private static String sha256(long size, int value) {
        try {
            MessageDigest digest = MessageDigest.getInstance("SHA-256");
            byte[] chunk = new byte[64 * 1024];
            java.util.Arrays.fill(chunk, (byte) value);
            for (long left = size; left > 0; left -= chunk.length) {
                digest.update(chunk, 0, (int) Math.min(left, chunk.length));
            }
            return HexFormat.of().formatHex(digest.digest());
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}

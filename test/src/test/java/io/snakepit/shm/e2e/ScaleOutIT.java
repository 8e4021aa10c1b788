package io.snakepit.shm.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * Scale-out (docs/SCALE_OUT.md): two managers on this machine act as two hosts, one with
 * {@code --host-id host-a}, the other with {@code SNAKEPIT_SHM_HOST_ID=host-b}, each with its
 * own shm dir. Two BEAM nodes (OS processes) each pick the manager whose {@code :ping}
 * reports their host; BEAM-A allocates and fills a region and sends the descriptor to BEAM-B
 * over distribution; BEAM-B sees that the descriptor's host is not its own, and copies the
 * bytes through the owner's {@code read} into a region of its own manager: same sha256.
 * Then every segment is gone from both shm dirs.
 */
class ScaleOutIT extends E2eTest {
    private static final long SIZE_BYTES = 5L * 1024 * 1024 + 13;
    private static final long CHUNK_BYTES = 2L * 1024 * 1024;
    private static final Duration EXIT_TIMEOUT = Duration.ofSeconds(30);
    /** How long segment files may take to go once the regions were released (grace, unlink). */
    private static final Duration SEGMENTS_GONE_WITHIN = Duration.ofSeconds(30);

    @Test
    void eachBeamPicksTheManagerOfItsHostAndCopiesARegionOfTheOther() throws IOException {
        String managerA = harness.startNode("--host-id", "host-a");
        Path dirB = Files.createDirectory(harness.shmDir().resolve("host-b"),
                PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
        ManagedProcess nodeB = startManagerWithEnvironment("host-b", dirB);
        try {
            String managerB = awaitReady(nodeB);

            ManagedProcess consumer = harness.startElixir("cluster_consumer", managerB, "host-b",
                    Long.toString(CHUNK_BYTES));
            consumer.awaitLine(line -> line.equals("READY=1"), E2eHarness.SCRIPT_TIMEOUT, "READY=1 of BEAM-B");
            Map<String, String> b = ScriptResult.parse(consumer.stdout());
            assertEquals(managerB, b.get("LOCAL"), "BEAM-B (host-b) must pick host-b's manager");

            ManagedProcess producer = harness.startElixir("cluster_producer", managerB, "host-a",
                    Long.toString(SIZE_BYTES), b.get("BEAM"));
            assertEquals(0, consumer.awaitExit(E2eHarness.SCRIPT_TIMEOUT), consumer.describeOutput());
            assertEquals(0, producer.awaitExit(E2eHarness.SCRIPT_TIMEOUT), producer.describeOutput());
            Map<String, String> a = ScriptResult.parse(producer.stdout());
            b = ScriptResult.parse(consumer.stdout());
            String transcript = producer.describeOutput() + "\n" + consumer.describeOutput();

            assertEquals(managerA, a.get("LOCAL"), "BEAM-A (host-a) must pick host-a's manager\n" + transcript);
            assertEquals("host-a", a.get("DESC_HOST"), "descriptors of host-a's manager carry its host id");
            assertEquals("host-a", b.get("DESC_HOST"), "the descriptor arrives at BEAM-B unchanged");
            assertEquals(a.get("SHA256"), b.get("SENT_SHA256"));
            assertEquals("other_host", b.get("REFUSED"), "BEAM-B must see that the region is not on its host");
            assertEquals("not_found/unknown", b.get("NAIVE"),
                    "host-b's manager never made the region: " + transcript);
            assertEquals("host-b", b.get("COPY_HOST"));
            assertTrue(b.get("COPY_PATH").startsWith(dirB + "/"), "the copy lives in host-b's shm dir: "
                    + b.get("COPY_PATH"));
            assertEquals(a.get("SHA256"), b.get("COPY_SHA256"), "the copy's bytes differ from the original's\n"
                    + transcript);
            assertEquals("1", b.get("REMOTE_REFCOUNT"), "BEAM-B let go of the original after the copy");
            assertEquals("1", b.get("COPY_GONE"));
            assertEquals("1", a.get("GONE"));
            double seconds = Long.parseLong(b.get("COPY_US")) / 1e6;
            System.out.printf("ScaleOutIT: %d bytes copied from host-a to host-b in %.1f ms (%.0f MiB/s, chunks of"
                    + " %d MiB)%n", SIZE_BYTES, seconds * 1000, SIZE_BYTES / 1048576.0 / seconds,
                    CHUNK_BYTES >> 20);

            awaitNoSegments(harness.shmDir(), "host-a");
            awaitNoSegments(dirB, "host-b");
        } finally {
            nodeB.stop(E2eHarness.STOP_GRACE);
            nodeB.saveLog(harness.layout().logDir(getClass().getSimpleName()
                    + ".eachBeamPicksTheManagerOfItsHostAndCopiesARegionOfTheOther").resolve("node-host-b.log"));
        }
    }

    @Test
    void aMalformedHostIdIsRefusedAtStartWithTheRule() {
        ManagedProcess flag = harness.startLauncher("bad-host-id-flag", List.of("node", "--host-id", "two words",
                "--shm-dir", harness.shmDir().toString()));
        assertEquals(2, flag.awaitExit(EXIT_TIMEOUT), flag.describeOutput());
        assertTrue(flag.stderr().contains("--host-id") && flag.stderr().contains("1 to 64 letters"),
                flag.describeOutput());
        assertFalse(flag.stdout().contains("ready"), flag.describeOutput());

        ManagedProcess env = startManagerWithEnvironment("a/b", harness.shmDir());
        try {
            assertEquals(2, env.awaitExit(EXIT_TIMEOUT), env.describeOutput());
            assertTrue(env.stderr().contains("SNAKEPIT_SHM_HOST_ID") && env.stderr().contains("1 to 64 letters"),
                    env.describeOutput());
        } finally {
            env.stop(E2eHarness.STOP_GRACE);
        }
    }

    /** A manager with SNAKEPIT_SHM_HOST_ID=hostId, not tracked by the harness: the caller stops it. */
    private ManagedProcess startManagerWithEnvironment(String hostId, Path shmDir) {
        List<String> command = new ArrayList<>(List.of(harness.layout().launcher().toString(), "node", "--name",
                harness.uniqueName("snk_e2e_b"), "--cookie-file", harness.cookieFile().toString(), "--shm-dir",
                shmDir.toString(), "--exit-on-stdin-eof"));
        return ManagedProcess.start("node-" + hostId.replace('/', '_'), command,
                Map.of("SNAKEPIT_SHM_HOST_ID", hostId), null);
    }

    private static String awaitReady(ManagedProcess node) {
        String ready = node.awaitLine(line -> line.startsWith("ready "), E2eHarness.READY_TIMEOUT, "'ready <node>'");
        String name = ready.substring("ready ".length()).trim();
        assertNotEquals(-1, name.indexOf('@'), ready);
        return name;
    }

    /** Polls until {@code dir} holds no segment file (subdirectories are other managers' dirs). */
    private static void awaitNoSegments(Path dir, String what) throws IOException {
        long deadline = System.nanoTime() + SEGMENTS_GONE_WITHIN.toNanos();
        while (true) {
            List<String> files;
            try (Stream<Path> entries = Files.list(dir)) {
                files = entries.filter(Files::isRegularFile).map(p -> p.getFileName().toString()).toList();
            }
            if (files.isEmpty()) {
                return;
            }
            if (System.nanoTime() > deadline) {
                fail("segments of " + what + " left in " + dir + " after every region was released: " + files);
            }
            try {
                Thread.sleep(20);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                fail("interrupted");
            }
        }
    }
}

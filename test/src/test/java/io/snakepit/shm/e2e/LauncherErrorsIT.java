package io.snakepit.shm.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/**
 * The launcher refuses bad starts with a non-zero status and one line on stderr that says
 * why: an unknown flag, a node name already taken, a missing cookie file.
 */
class LauncherErrorsIT extends E2eTest {
    private static final Duration EXIT_TIMEOUT = Duration.ofSeconds(30);
    private static final Pattern NAME_TAKEN = Pattern.compile("(?i)taken|in use|already|registered");

    @Test
    void unknownFlagExitsNonZeroWithOneLineReason() {
        ManagedProcess launcher = harness.startLauncher("unknown-flag",
                List.of("node", "--no-such-flag", "--shm-dir", harness.shmDir().toString()));
        int status = launcher.awaitExit(EXIT_TIMEOUT);

        assertNotEquals(0, status, launcher.describeOutput());
        String reason = oneLine(launcher);
        assertTrue(reason.contains("--no-such-flag"), "the reason should name the flag: " + reason);
    }

    @Test
    void nameAlreadyTakenExitsNonZeroWithClearMessage() {
        String running = harness.startNode();
        String shortName = running.substring(0, running.indexOf('@'));

        ManagedProcess second = harness.startLauncher("second-node", List.of("node", "--name", shortName,
                "--cookie-file", harness.cookieFile().toString(), "--shm-dir", harness.shmDir().toString()));
        int status = second.awaitExit(EXIT_TIMEOUT);

        assertNotEquals(0, status, second.describeOutput());
        String reason = oneLine(second);
        assertTrue(reason.contains(shortName) && NAME_TAKEN.matcher(reason).find(),
                "the reason should say that " + shortName + " is taken: " + reason);
        assertFalse(second.stdout().contains("ready"), second.describeOutput());
        ScriptResult health = harness.runElixir("health").assertSucceeded();
        assertEquals("ok", health.get("HEALTH"), "the first node must keep serving");
    }

    @Test
    void missingCookieFileExitsNonZeroWithClearMessage() {
        Path missing = harness.cookieFile().resolveSibling("no-such-cookie");
        ManagedProcess launcher = harness.startLauncher("missing-cookie", List.of("node", "--name",
                harness.uniqueName("snk_e2e"), "--cookie-file", missing.toString(),
                "--shm-dir", harness.shmDir().toString()));
        int status = launcher.awaitExit(EXIT_TIMEOUT);

        assertNotEquals(0, status, launcher.describeOutput());
        String reason = oneLine(launcher);
        assertTrue(reason.contains(missing.toString()), "the reason should name the cookie file: " + reason);
        assertFalse(launcher.stdout().contains("ready"), launcher.describeOutput());
    }

    @Test
    void anUnsafeShmDirIsRefusedWithARemediation() throws Exception {
        Path link = harness.shmDir().resolveSibling(harness.shmDir().getFileName() + "-link");
        Path open = harness.shmDir().resolve("world-writable");
        java.nio.file.Files.createSymbolicLink(link, harness.shmDir());
        java.nio.file.Files.createDirectory(open);
        java.nio.file.Files.setPosixFilePermissions(open, java.nio.file.attribute.PosixFilePermissions.fromString(
                "rwxrwxrwx"));
        try {
            for (Path dir : List.of(link, open)) {
                ManagedProcess launcher = harness.startLauncher("unsafe-" + dir.getFileName(), List.of("node",
                        "--name", harness.uniqueName("snk_e2e"), "--cookie-file", harness.cookieFile().toString(),
                        "--shm-dir", dir.toString()));
                assertNotEquals(0, launcher.awaitExit(EXIT_TIMEOUT), launcher.describeOutput());
                String reason = oneLine(launcher);
                assertTrue(reason.contains(dir.toString()) && (reason.contains("symbolic link")
                        || reason.contains("chmod +t")), "the reason names the dir and the fix: " + reason);
                assertFalse(launcher.stdout().contains("ready"), launcher.describeOutput());
            }
        } finally {
            java.nio.file.Files.deleteIfExists(link);
            java.nio.file.Files.deleteIfExists(open);
        }
    }

    @Test
    void anotherUserCannotOpenASegment() throws Exception {
        harness.startNode();
        ManagedProcess holder = harness.startIdleProcess();
        ScriptResult held = harness.runElixir("allocate_held", Long.toString(holder.pid())).assertSucceeded();
        String path = held.get("PATH_0");
        // the shm dir itself is 0700; open the way for the other user to reach the file itself
        java.nio.file.Files.setPosixFilePermissions(harness.shmDir(),
                java.nio.file.attribute.PosixFilePermissions.fromString("rwx--x--x"));
        try {
            Process other = new ProcessBuilder("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                    "/usr/bin/python3", "-c", "import sys\ntry:\n    open(sys.argv[1], 'rb').read(1)\n    print('OPENED')\n"
                    + "except PermissionError:\n    print('DENIED')", path).redirectErrorStream(true).start();
            String out = new String(other.getInputStream().readAllBytes()).trim();
            assertEquals(0, other.waitFor(), out);
            assertEquals("DENIED", out, "a segment (mode 0600) must not open for user nobody");
            assertEquals("rw-------", java.nio.file.attribute.PosixFilePermissions.toString(
                    java.nio.file.Files.getPosixFilePermissions(Path.of(path))));
        } finally {
            java.nio.file.Files.setPosixFilePermissions(harness.shmDir(),
                    java.nio.file.attribute.PosixFilePermissions.fromString("rwx------"));
        }
    }

    /** The launcher's stderr, which must be exactly one non-blank line. */
    private static String oneLine(ManagedProcess launcher) {
        List<String> lines = launcher.stderr().lines().filter(line -> !line.isBlank()).toList();
        assertEquals(1, lines.size(), "expected a one-line reason on stderr\n" + launcher.describeOutput());
        return lines.get(0);
    }
}

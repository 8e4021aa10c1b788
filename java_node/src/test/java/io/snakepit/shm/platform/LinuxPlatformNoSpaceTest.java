package io.snakepit.shm.platform;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

/**
 * A full tmpfs: mounts its own 1 MiB tmpfs (needs root; skipped otherwise) and checks that
 * reserving more than fits fails with ENOSPC instead of leaving a SIGBUS for later.
 */
class LinuxPlatformNoSpaceTest {
  private final LinuxPlatform platform = new LinuxPlatform();

  @Test
  void reservingMoreThanTheFileSystemHoldsFailsWithNoSpace() throws Exception {
    Path mountPoint = Files.createTempDirectory("snktest-mnt-");
    try {
      String mountError = run("mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", mountPoint.toString());
      Assumptions.assumeTrue(mountError == null, "cannot mount a tmpfs (needs root): " + mountError);
      try (ShmTestDir shm = new ShmTestDir(platform, mountPoint)) {
        int fd = shm.create("seg");
        platform.truncate(fd, 4L << 20, "seg"); // tmpfs overcommits: truncate succeeds

        PlatformException e = assertThrows(PlatformException.class,
            () -> platform.reserve(fd, 0, 4L << 20, "seg"));

        assertTrue(e.isNoSpace(), e.getMessage());
        assertEquals(PlatformException.ENOSPC, e.errno());
        assertEquals("posix_fallocate", e.call());
        assertEquals("seg", e.name());
        assertEquals("No space left on device", e.strerror());
        platform.reserve(fd, 0, 64L << 10, "seg"); // a range that fits still works
      } finally {
        String umountError = run("umount", mountPoint.toString());
        assertEquals(null, umountError, "umount " + mountPoint);
      }
    } finally {
      Files.deleteIfExists(mountPoint);
    }
  }

  /** Runs a command; null when it exits 0, else its exit code and output. */
  private static String run(String... command) throws IOException, InterruptedException {
    Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
    if (!p.waitFor(30, TimeUnit.SECONDS)) {
      p.destroyForcibly().waitFor();
      return "timed out: " + String.join(" ", command);
    }
    String output = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim();
    return p.exitValue() == 0 ? null : "exit " + p.exitValue() + ": " + output;
  }
}

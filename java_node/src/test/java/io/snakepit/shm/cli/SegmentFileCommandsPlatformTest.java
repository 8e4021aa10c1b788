package io.snakepit.shm.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.snakepit.shm.platform.OsFamily;
import io.snakepit.shm.platform.Platforms;
import io.snakepit.shm.platform.UnsupportedPlatformException;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The commands that read segment files (sweep, list --offline, health --offline,
 * health --deep, dump) on macOS and Windows (injected), where segments are not files: each
 * says so, with what to do instead, and never reports an empty result as if it had looked.
 */
class SegmentFileCommandsPlatformTest {
  private final ByteArrayOutputStream bytes = new ByteArrayOutputStream();
  private final PrintStream out = new PrintStream(bytes, true, StandardCharsets.UTF_8);
  private Path dir;

  @BeforeEach
  void setUp() throws IOException {
    dir = Files.createTempDirectory(Path.of("/dev/shm"), "snktest-cliplatform-");
  }

  @AfterEach
  void tearDown() throws IOException {
    Files.delete(dir);
  }

  private String printed() {
    return bytes.toString(StandardCharsets.UTF_8);
  }

  /** Runs one command; the family supplier counts whether it was asked. */
  private interface Command {
    int run(List<String> args, PrintStream out, java.util.function.Supplier<OsFamily> os) throws UsageException;
  }

  private UsageException refused(Command c, List<String> args, OsFamily f) {
    return assertThrows(UsageException.class, () -> c.run(args, out, () -> f), args + " on " + f);
  }

  @Test
  void sweepSaysSegmentListingIsNotAvailableInsteadOfReportingZeroScanned() {
    for (OsFamily f : List.of(OsFamily.MACOS, OsFamily.WINDOWS)) {
      for (List<String> args : List.of(List.of("--shm-dir", dir.toString()), List.of("--reclaim", "--json"))) {
        UsageException e = refused(SweepCommand::run, args, f);
        assertEquals(UsageException.ENVIRONMENT, e.exitStatus());
        assertTrue(e.getMessage().startsWith("sweep: segment listing is not available: on "
            + (f == OsFamily.MACOS ? "macOS" : "Windows")), e.getMessage());
      }
    }
    assertEquals("", printed(), "no report of an empty sweep");
  }

  @Test
  void sweepSelectsThePlatformBeforeParsingAndStillSweepsOnLinux() throws UsageException {
    UnsupportedPlatformException e = assertThrows(UnsupportedPlatformException.class, () -> SweepCommand.run(
        List.of("--no-such-flag"), out, () -> Platforms.select("FreeBSD", "amd64")));
    assertTrue(e.getMessage().startsWith("no shared-memory platform for FreeBSD"), e.getMessage());

    assertEquals(0, SweepCommand.run(List.of("--shm-dir", dir.toString(), "--json"), out, () -> OsFamily.LINUX));
    assertTrue(printed().startsWith("{\"shm_dir\":\"" + dir + "\",\"dry_run\":true,\"scanned\":0,"), printed());
  }

  @Test
  void offlineListAndHealthAndDeepHealthAndDumpSayWhyAndWhatToDoInstead() {
    for (OsFamily f : List.of(OsFamily.MACOS, OsFamily.WINDOWS)) {
      String os = f == OsFamily.MACOS ? "on macOS segments are POSIX shared-memory objects, not files"
          : "on Windows segments are named sections backed by the paging file, not files";
      UsageException list = refused(ListCommand::run, List.of("--offline", "--shm-dir", dir.toString()), f);
      assertEquals(UsageException.ENVIRONMENT, list.exitStatus());
      assertTrue(list.getMessage().startsWith("list --offline reads segment files, but " + os), list.getMessage());
      assertTrue(list.getMessage().contains("drop --offline"), list.getMessage());

      UsageException health = refused(HealthCommand::run, List.of("--offline"), f);
      assertEquals(HealthCommand.UNKNOWN, health.exitStatus(), "the health of unreadable segments is unknown");
      assertTrue(health.getMessage().startsWith("health --offline reads segment files, but " + os),
          health.getMessage());

      // before connecting to any node: the node named here does not exist
      UsageException deep = refused(HealthCommand::run, List.of("--deep", "--node", "nobody@nowhere",
          "--cookie", "c"), f);
      assertEquals(UsageException.ENVIRONMENT, deep.exitStatus());
      assertTrue(deep.getMessage().startsWith("health --deep reads segment files, but " + os), deep.getMessage());

      for (List<String> args : List.of(List.of("0000000000000001", "--node", "nobody@nowhere", "--cookie", "c"),
          List.of("0000000000000001", "--offline"))) {
        UsageException dump = refused(DumpCommand::run, args, f);
        assertEquals(UsageException.ENVIRONMENT, dump.exitStatus());
        assertTrue(dump.getMessage().startsWith("dump reads segment files, but " + os), dump.getMessage());
        assertTrue(dump.getMessage().contains("read the region through the node"), dump.getMessage());
      }
    }
    assertEquals("", printed());
  }

  @Test
  void offlineHealthInJsonSaysUnknownWithTheReason() {
    UsageException e = refused(HealthCommand::run, List.of("--offline", "--json"), OsFamily.MACOS);
    assertEquals(Json.write(Map.of("status", "unknown")).replace("}", ",\"offline\":true,\"error\":")
        + Json.write(e.getMessage()) + "}", printed().strip());
  }

  @Test
  void commandsThatDoNotTouchSegmentFilesNeverAskForThePlatform() {
    java.util.function.Supplier<OsFamily> never = () -> {
      throw new AssertionError("the platform was asked for");
    };
    // online list and health go to the node (unreachable here), without a platform
    for (Command c : List.<Command>of(ListCommand::run, HealthCommand::run)) {
      UsageException e = assertThrows(UsageException.class, () -> c.run(List.of("--node", "nobody@nowhere",
          "--cookie", "c", "--timeout-ms", "500"), out, never));
      assertFalse(e.getMessage().contains("segment files"), e.getMessage());
    }
  }
}

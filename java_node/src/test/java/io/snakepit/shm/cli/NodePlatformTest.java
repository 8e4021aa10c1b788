package io.snakepit.shm.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.snakepit.shm.platform.OsFamily;
import io.snakepit.shm.platform.Platforms;
import io.snakepit.shm.platform.UnsupportedPlatformException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Comparator;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * {@code snakepit-shm node} per OS family (injected): the platform is selected before
 * anything else, the default shm dir is the family's, and the private state dir of macOS
 * and Windows is created owner-only when it is the default and missing.
 */
class NodePlatformTest {
  private Path root;

  @BeforeEach
  void setUp() throws IOException {
    root = Files.createTempDirectory("snktest-nodeplatform-");
  }

  @AfterEach
  void tearDown() throws IOException {
    try (Stream<Path> s = Files.walk(root)) {
      for (Path p : s.sorted(Comparator.reverseOrder()).toList()) {
        Files.deleteIfExists(p);
      }
    }
  }

  @Test
  void anUnsupportedSystemGetsItsOneLineErrorBeforeArgumentsCookieOrShmDirAreLookedAt() {
    for (String[] os : new String[][] {{"FreeBSD", "amd64"}, {"Linux", "s390x"}}) {
      UnsupportedPlatformException e = assertThrows(UnsupportedPlatformException.class, () -> NodeCommand.run(
          List.of("--no-such-flag", "--cookie-file", "/nonexistent/cookie", "--shm-dir", "/nonexistent"),
          () -> Platforms.select(os[0], os[1])));
      assertTrue(e.getMessage().startsWith("no shared-memory platform for " + os[0]), e.getMessage());
      assertFalse(e.getMessage().contains("\n"));
    }
  }

  @Test
  void thePlatformIsConstructedBeforeTheCookieAndTheShmDirAreChecked() {
    // on this Linux JVM, constructing the macOS or Windows platform is what fails: it comes first
    for (OsFamily f : List.of(OsFamily.MACOS, OsFamily.WINDOWS)) {
      UnsupportedPlatformException e = assertThrows(UnsupportedPlatformException.class, () -> NodeCommand.run(
          List.of("--cookie-file", "/nonexistent/cookie", "--shm-dir", "/nonexistent"), () -> f));
      assertTrue(e.getMessage().endsWith("only, not on Linux"), e.getMessage());
    }
    // and on Linux the first environment error is the cookie's, as before
    UsageException e = assertThrows(UsageException.class, () -> NodeCommand.run(
        List.of("--cookie-file", "/nonexistent/cookie", "--shm-dir", "/nonexistent"), () -> OsFamily.LINUX));
    assertEquals(UsageException.ENVIRONMENT, e.exitStatus());
    assertTrue(e.getMessage().contains("/nonexistent/cookie"), e.getMessage());
  }

  @Test
  void theDefaultShmDirIsTheFamilysAndShmDirOverridesIt() throws UsageException {
    NodeOptions linux = NodeOptions.parse(List.of(), OsFamily.LINUX);
    assertEquals(Path.of("/dev/shm"), linux.shmDir());
    assertTrue(linux.shmDirIsDefault());
    String tmp = System.getProperty("java.io.tmpdir");
    for (OsFamily f : List.of(OsFamily.MACOS, OsFamily.WINDOWS)) {
      NodeOptions o = NodeOptions.parse(List.of("--name", "n"), f);
      assertEquals(Path.of(tmp).resolve(NodeOptions.STATE_DIR_PREFIX
          + System.getProperty("user.name").replaceAll("[^A-Za-z0-9._-]", "_")), o.shmDir());
      assertTrue(o.shmDirIsDefault());
      NodeOptions given = NodeOptions.parse(List.of("--shm-dir", "/srv/state"), f);
      assertEquals(Path.of("/srv/state"), given.shmDir());
      assertFalse(given.shmDirIsDefault());
    }
    assertEquals(NodeOptions.parse(List.of(), Platforms.currentFamily()), NodeOptions.parse(List.of()));
    assertTrue(NodeOptions.USAGE.contains("<java.io.tmpdir>/snakepit-shm-<user>"), NodeOptions.USAGE);
  }

  @Test
  void theStateDirNameKeepsOnlySafeCharactersOfTheUserName() {
    assertEquals(Path.of("/var/folders/T/snakepit-shm-alice"),
        NodeOptions.defaultShmDir(OsFamily.MACOS, "/var/folders/T", "alice"));
    assertEquals(Path.of("C:/Temp").resolve("snakepit-shm-John_Smith_DOMAIN_x"),
        NodeOptions.defaultShmDir(OsFamily.WINDOWS, "C:/Temp", "John Smith/DOMAIN\\x"));
    assertEquals(Path.of("/tmp/snakepit-shm-user"), NodeOptions.defaultShmDir(OsFamily.MACOS, "/tmp", ""));
    assertEquals(Path.of("/tmp/snakepit-shm-user"), NodeOptions.defaultShmDir(OsFamily.MACOS, "/tmp", null));
    assertEquals(Path.of("/dev/shm"), NodeOptions.defaultShmDir(OsFamily.LINUX, "/tmp", "alice"));
  }

  @Test
  void theDefaultStateDirIsCreatedOwnerOnlyWhenMissing() throws Exception {
    Path state = root.resolve("snakepit-shm-alice");
    for (OsFamily f : List.of(OsFamily.MACOS, OsFamily.WINDOWS)) {
      NodeCommand.prepareShmDir(NodeOptions.parse(List.of(), state), f);
      assertEquals("rwx------", PosixFilePermissions.toString(Files.getPosixFilePermissions(state)), f.toString());
      NodeCommand.prepareShmDir(NodeOptions.parse(List.of(), state), f); // exists now: fine
      Files.delete(state);
    }
  }

  @Test
  void aStateDirGivenWithShmDirIsNeverCreatedAndAnOpenOneIsRefused() throws Exception {
    Path missing = root.resolve("missing");
    UsageException e = assertThrows(UsageException.class, () -> NodeCommand.prepareShmDir(
        NodeOptions.parse(List.of("--shm-dir", missing.toString()), root.resolve("default")), OsFamily.MACOS));
    assertEquals(UsageException.ENVIRONMENT, e.exitStatus());
    assertEquals("state dir " + missing + " does not exist or is not a directory", e.getMessage());
    assertFalse(Files.exists(missing));

    Path open = Files.createDirectory(root.resolve("open"));
    Files.setPosixFilePermissions(open, PosixFilePermissions.fromString("rwxrwxr-x"));
    e = assertThrows(UsageException.class, () -> NodeCommand.prepareShmDir(
        NodeOptions.parse(List.of("--shm-dir", open.toString()), root.resolve("default")), OsFamily.MACOS));
    assertTrue(e.getMessage().contains("run chmod 700 " + open), e.getMessage());

    // the same directory is acceptable as a Linux shm dir: not world-writable
    NodeCommand.prepareShmDir(NodeOptions.parse(List.of("--shm-dir", open.toString()), root.resolve("default")),
        OsFamily.LINUX);
  }

  @Test
  void linuxNeverCreatesItsShmDir() {
    Path missing = root.resolve("not-dev-shm");
    UsageException e = assertThrows(UsageException.class, () -> NodeCommand.prepareShmDir(
        NodeOptions.parse(List.of(), missing), OsFamily.LINUX));
    assertEquals("shm dir " + missing + " does not exist or is not a directory", e.getMessage());
    assertFalse(Files.exists(missing));
  }
}

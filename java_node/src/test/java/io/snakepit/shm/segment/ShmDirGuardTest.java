package io.snakepit.shm.segment;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.snakepit.shm.platform.OsFamily;
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
 * The shm dir checks per OS family, on real directories: Linux's shared tmpfs rules, and
 * the private state dir of macOS and Windows (the OS family is injected; the directories
 * are Linux's).
 */
class ShmDirGuardTest {
  private Path root;

  @BeforeEach
  void setUp() throws IOException {
    root = Files.createTempDirectory("snktest-guard-");
  }

  @AfterEach
  void tearDown() throws IOException {
    try (Stream<Path> s = Files.walk(root)) {
      for (Path p : s.sorted(Comparator.reverseOrder()).toList()) {
        Files.deleteIfExists(p);
      }
    }
  }

  private Path dir(String name, String mode) throws IOException {
    Path d = Files.createDirectory(root.resolve(name));
    Files.setPosixFilePermissions(d, PosixFilePermissions.fromString(mode));
    return d;
  }

  @Test
  void linuxAcceptsAStickySharedDirAndRefusesAWorldWritableOneWithoutTheStickyBit() throws IOException {
    Path open = dir("open", "rwxrwxrwx");
    assertEquals("shm dir " + open + " is world-writable without the sticky bit (mode 777); run chmod +t " + open
        + " or use another directory", ShmDirGuard.dirProblem(open, OsFamily.LINUX));
    assertEquals(ShmDirGuard.dirProblem(open), ShmDirGuard.dirProblem(open, OsFamily.LINUX));
    Files.setAttribute(open, "unix:mode", 01777);
    assertNull(ShmDirGuard.dirProblem(open, OsFamily.LINUX), "like /dev/shm");
    assertNull(ShmDirGuard.dirProblem(dir("group", "rwxrwx---"), OsFamily.LINUX));
  }

  @Test
  void aStateDirMustBeOursAndNotWritableByGroupOrOthersEvenWhenSticky() throws IOException {
    for (OsFamily f : List.of(OsFamily.MACOS, OsFamily.WINDOWS)) {
      Path priv = dir("private-" + f, "rwx------");
      assertNull(ShmDirGuard.dirProblem(priv, f));
      assertNull(ShmDirGuard.dirProblem(dir("readable-" + f, "rwxr-xr-x"), f), "others may look, not write");
      Path group = dir("group-" + f, "rwxrwx---");
      assertEquals("state dir " + group + " can be written by group or others (mode 770); run chmod 700 " + group
          + " or use another directory", ShmDirGuard.dirProblem(group, f));
      Path sticky = dir("sticky-" + f, "rwxrwxrwx");
      Files.setAttribute(sticky, "unix:mode", 01777);
      assertTrue(ShmDirGuard.dirProblem(sticky, f).contains("(mode 1777); run chmod 700"), f.toString());
    }
  }

  @Test
  void symbolicLinksAndMissingDirsAreNamedWithTheRightNoun() throws IOException {
    Path real = dir("real", "rwx------");
    Path link = Files.createSymbolicLink(root.resolve("link"), real);
    Path missing = root.resolve("missing");
    assertEquals("shm dir " + link + " is a symbolic link; name the real directory",
        ShmDirGuard.dirProblem(link, OsFamily.LINUX));
    assertEquals("state dir " + link + " is a symbolic link; name the real directory",
        ShmDirGuard.dirProblem(link, OsFamily.MACOS));
    assertEquals("state dir " + missing + " does not exist or is not a directory",
        ShmDirGuard.dirProblem(missing, OsFamily.WINDOWS));
    assertEquals("shm dir " + missing + " does not exist or is not a directory",
        ShmDirGuard.dirProblem(missing, OsFamily.LINUX));
  }

  @Test
  void aStateDirOfAnotherUserIsRefused() throws IOException {
    Path foreign = dir("foreign", "rwx------");
    long own = ShmDirGuard.ownUid();
    long other = own == 65534 ? 65533 : 65534;
    try {
      Files.setAttribute(foreign, "unix:uid", (int) other);
    } catch (IOException e) {
      // not root: a directory of root's instead
      foreign = Path.of("/root");
      other = 0;
    }
    assertEquals("state dir " + foreign + " belongs to uid " + other + ", not to this user (" + own
        + "); use a directory of your own", ShmDirGuard.dirProblem(foreign, OsFamily.MACOS));
    assertNull(ShmDirGuard.dirProblem(foreign, OsFamily.LINUX), "Linux's shm dir is shared by design");
  }

  @Test
  void theUidComesFromProcOrElseFromTheJdkAndBothAgree() {
    long fromProc = ShmDirGuard.ownUid();
    assertTrue(fromProc >= 0);
    assertEquals(fromProc, ShmDirGuard.uidFromJdk(), "macOS has no /proc: the JDK's getuid must give the same");
  }
}

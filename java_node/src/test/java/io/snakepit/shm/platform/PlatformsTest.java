package io.snakepit.shm.platform;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/** Which platform each os.name / os.arch pair gets, and the errors of the others. */
class PlatformsTest {
  @Test
  void linuxGetsTheLinuxPlatform() {
    assertInstanceOf(LinuxPlatform.class, Platforms.forCurrentOs());
    assertEquals(OsFamily.LINUX.features(), Platforms.forCurrentOs().features());
  }

  @Test
  void theCurrentFamilyIsSelectedWithoutConstructingAPlatformAndEachFamilyBuildsItsOwn() {
    assertEquals(OsFamily.LINUX, Platforms.currentFamily());
    assertEquals(OsFamily.LINUX, new LinuxPlatform().family());
    assertInstanceOf(LinuxPlatform.class, Platforms.forFamily(OsFamily.LINUX));
    assertEquals("MacOsPlatform runs on macOS only, not on Linux", assertThrows(UnsupportedPlatformException.class,
        () -> Platforms.forFamily(OsFamily.MACOS)).getMessage());
    assertEquals("WindowsPlatform runs on Windows only, not on Linux", assertThrows(
        UnsupportedPlatformException.class, () -> Platforms.forFamily(OsFamily.WINDOWS)).getMessage());
  }

  @Test
  void eachOsNameSelectsItsFamily() {
    assertEquals(OsFamily.LINUX, Platforms.select("Linux", "amd64"));
    assertEquals(OsFamily.LINUX, Platforms.select("Linux", "aarch64"));
    assertEquals(OsFamily.MACOS, Platforms.select("Mac OS X", "aarch64"));
    assertEquals(OsFamily.MACOS, Platforms.select("Mac OS X", "x86_64"));
    assertEquals(OsFamily.MACOS, Platforms.select("Darwin", "arm64"));
    assertEquals(OsFamily.WINDOWS, Platforms.select("Windows 10", "amd64"));
    assertEquals(OsFamily.WINDOWS, Platforms.select("Windows 11", "aarch64"));
    assertEquals(OsFamily.WINDOWS, Platforms.select("Windows Server 2022", "amd64"));
  }

  @Test
  void macOsAndWindowsDispatchToTheirClassesWhichRefuseToLoadOnLinux() {
    // The selection reaches MacOsPlatform / WindowsPlatform; on this Linux JVM their
    // constructors fail before binding any native library.
    UnsupportedPlatformException mac = assertThrows(UnsupportedPlatformException.class,
        () -> Platforms.forOs("Mac OS X", "aarch64"));
    UnsupportedPlatformException windows = assertThrows(UnsupportedPlatformException.class,
        () -> Platforms.forOs("Windows 11", "amd64"));

    assertEquals("MacOsPlatform runs on macOS only, not on Linux", mac.getMessage());
    assertEquals("WindowsPlatform runs on Windows only, not on Linux", windows.getMessage());
  }

  @Test
  void otherOperatingSystemsGetAOneLineErrorNamingThemAndTheRemedy() {
    UnsupportedPlatformException e = assertThrows(UnsupportedPlatformException.class,
        () -> Platforms.forOs("FreeBSD", "amd64"));

    assertTrue(e.getMessage().startsWith("no shared-memory platform for FreeBSD (amd64): "), e.getMessage());
    assertTrue(e.getMessage().contains("runs on Linux, macOS and Windows"), e.getMessage());
    assertTrue(e.getMessage().contains("docs/PLATFORMS.md"), e.getMessage());
    assertFalse(e.getMessage().contains("\n"), e.getMessage());
    // what the launcher prints after "snakepit-shm: " is the message alone
    assertEquals(e.getMessage(), e.toString());
    assertInstanceOf(UnsupportedOperationException.class, e);
  }

  @Test
  void aMissingOsNameIsRefused() {
    UnsupportedPlatformException e = assertThrows(UnsupportedPlatformException.class,
        () -> Platforms.select(null, "amd64"));
    assertTrue(e.getMessage().contains("null (amd64)"), e.getMessage());
  }

  @Test
  void thirtyTwoBitAndUndescribedCpusAreRefusedOnEverySystem() {
    for (String os : new String[] {"Linux", "Mac OS X", "Windows 10"}) {
      for (String arch : new String[] {"x86", "i386", "arm", "ppc64le", "s390x", "riscv64", ""}) {
        UnsupportedPlatformException e = assertThrows(UnsupportedPlatformException.class,
            () -> Platforms.select(os, arch), os + "/" + arch);
        assertTrue(e.getMessage().contains(os + " on " + arch + ": snakepit-shm supports x86_64 and arm64 only"),
            e.getMessage());
      }
    }
  }
}

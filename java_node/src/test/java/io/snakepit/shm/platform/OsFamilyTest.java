package io.snakepit.shm.platform;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.EnumSet;
import org.junit.jupiter.api.Test;

/** The os.name / os.arch rules and the feature table that docs/PLATFORMS.md describes. */
class OsFamilyTest {
  @Test
  void osNamesAreMatchedByPrefixIgnoringCase() {
    assertEquals(OsFamily.LINUX, OsFamily.fromOsName("Linux"));
    assertEquals(OsFamily.LINUX, OsFamily.fromOsName(" linux "));
    assertEquals(OsFamily.MACOS, OsFamily.fromOsName("Mac OS X"));
    assertEquals(OsFamily.MACOS, OsFamily.fromOsName("macOS"));
    assertEquals(OsFamily.WINDOWS, OsFamily.fromOsName("Windows 11"));
    assertEquals(OsFamily.WINDOWS, OsFamily.fromOsName("WINDOWS SERVER 2019"));
    for (String other : new String[] {"FreeBSD", "OpenBSD", "SunOS", "AIX", "z/OS", "", "Win", "Mach"}) {
      assertNull(OsFamily.fromOsName(other), other);
    }
    assertNull(OsFamily.fromOsName(null));
  }

  @Test
  void only64BitX86AndArmAreSupported() {
    for (String arch : new String[] {"amd64", "x86_64", "aarch64", "arm64", "AMD64"}) {
      assertTrue(OsFamily.isSupportedArch(arch), arch);
    }
    for (String arch : new String[] {"x86", "i686", "arm", "armv7l", "ppc64", "ppc64le", "s390x", "riscv64", ""}) {
      assertFalse(OsFamily.isSupportedArch(arch), arch);
    }
    assertFalse(OsFamily.isSupportedArch(null));
  }

  @Test
  void linuxHasEveryFeature() {
    assertEquals(EnumSet.allOf(PlatformFeature.class), OsFamily.LINUX.features());
  }

  @Test
  void macOsOnlyRemovesNamesAtOnce() {
    assertEquals(EnumSet.of(PlatformFeature.UNLINK_REMOVES_NAME), OsFamily.MACOS.features());
  }

  @Test
  void windowsOnlyReservesBacking() {
    assertEquals(EnumSet.of(PlatformFeature.RESERVED_BACKING), OsFamily.WINDOWS.features());
  }

  @Test
  void featureSetsCannotBeChanged() {
    assertThrows(UnsupportedOperationException.class,
        () -> OsFamily.MACOS.features().add(PlatformFeature.HOLE_PUNCH));
  }
}

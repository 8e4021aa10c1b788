package io.snakepit.shm.platform;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import org.junit.jupiter.api.Test;

/** The per-platform wording: Linux's unchanged, macOS's and Windows's free of tmpfs and mount. */
class PlatformTextTest {
  private static final long MIB = 1L << 20;
  private static final SharedMemoryPlatform.FsStat FS = new SharedMemoryPlatform.FsStat(4096 * MIB, 100 * MIB,
      100 * MIB);
  private static final Path SHM = Path.of("/dev/shm");
  private static final Path STATE = Path.of("/tmp/snakepit-shm-alice");

  /** Every text a family's users see about space and listing. */
  private static List<String> texts(OsFamily f, Path dir) {
    return List.of(PlatformText.capacityDetail(f, dir, FS), PlatformText.noSpaceMessage(f, dir, FS, 1000),
        PlatformText.noSpaceMessage(f, dir, null, 1000), PlatformText.noSpaceRemediation(f, dir),
        PlatformText.capacityAlertMessage(f, dir, 97.5, FS), PlatformText.capacityAlertAdvice(f, dir, FS));
  }

  @Test
  void linuxKeepsItsShmDirWordingWithTheMountRemedy() {
    assertEquals("/dev/shm: 100 MiB free of 4096 MiB", PlatformText.capacityDetail(OsFamily.LINUX, SHM, FS));
    assertEquals("the shm dir /dev/shm (size 4096 MiB, 100 MiB free) cannot back 1000 more bytes",
        PlatformText.noSpaceMessage(OsFamily.LINUX, SHM, FS, 1000));
    assertEquals("the shm dir /dev/shm cannot back 1000 more bytes",
        PlatformText.noSpaceMessage(OsFamily.LINUX, SHM, null, 1000));
    assertTrue(PlatformText.noSpaceRemediation(OsFamily.LINUX, SHM).contains("mount -o remount,size=N /dev/shm"));
    assertEquals("the shm dir /dev/shm is 97.5% full (100 MiB free of 4096 MiB)",
        PlatformText.capacityAlertMessage(OsFamily.LINUX, SHM, 97.5, FS));
    assertTrue(PlatformText.capacityAlertAdvice(OsFamily.LINUX, SHM, FS).startsWith(
        "Grow it by about 2048 MiB (mount -o remount,size=6144m /dev/shm"));
    assertEquals("shm dir", PlatformText.dirNoun(OsFamily.LINUX));
    assertNull(PlatformText.segmentsNotFiles(OsFamily.LINUX));
    assertNull(PlatformText.segmentListingUnavailable(OsFamily.LINUX));
  }

  @Test
  void macOsAndWindowsTalkAboutMemoryAndThePagefileNeverAboutTmpfsOrMount() {
    for (OsFamily f : List.of(OsFamily.MACOS, OsFamily.WINDOWS)) {
      for (String t : texts(f, STATE)) {
        String lower = t.toLowerCase(Locale.ROOT);
        assertFalse(lower.contains("tmpfs") || lower.contains("mount") || lower.contains("/dev/shm")
            || lower.contains("shm-size") || lower.contains("shm dir"), f + ": " + t);
        assertFalse(t.contains("\n"), t);
      }
      assertEquals("state dir", PlatformText.dirNoun(f));
    }
    assertTrue(PlatformText.noSpaceMessage(OsFamily.MACOS, STATE, FS, 1000).contains("memory is short (100 MiB "
        + "available of 4096 MiB)"));
    assertTrue(PlatformText.noSpaceRemediation(OsFamily.MACOS, STATE).contains("free memory on this Mac"));
    assertEquals("memory is 97.5% used (about 100 MiB available of 4096 MiB)",
        PlatformText.capacityAlertMessage(OsFamily.MACOS, STATE, 97.5, FS));
    assertTrue(PlatformText.noSpaceMessage(OsFamily.WINDOWS, STATE, FS, 1000).startsWith(
        "the commit limit (RAM + paging files, 100 MiB available of 4096 MiB) cannot back 1000 more bytes"));
    assertTrue(PlatformText.noSpaceRemediation(OsFamily.WINDOWS, STATE).contains("enlarge the paging file"));
    assertEquals("the commit charge is 97.5% of the commit limit (100 MiB available of 4096 MiB)",
        PlatformText.capacityAlertMessage(OsFamily.WINDOWS, STATE, 97.5, FS));
  }

  @Test
  void withoutASegmentDirectoryTheHealthDetailSaysListingIsNotAvailableAndNamesTheStateDir() {
    for (OsFamily f : List.of(OsFamily.MACOS, OsFamily.WINDOWS)) {
      assertFalse(f.features().contains(PlatformFeature.SEGMENT_DIRECTORY));
      String why = PlatformText.segmentListingUnavailable(f);
      assertNotNull(why);
      assertTrue(why.startsWith("segment listing is not available: on "), why);
      assertTrue(why.contains("docs/PLATFORMS.md"), why);
      String detail = PlatformText.capacityDetail(f, STATE, FS);
      assertTrue(detail.contains("state dir " + STATE) && detail.contains(why), detail);
      assertTrue(detail.contains("100 MiB available of 4096 MiB"), detail);
    }
    assertTrue(PlatformText.segmentListingUnavailable(OsFamily.MACOS).contains("stay until reboot"));
    assertTrue(PlatformText.segmentListingUnavailable(OsFamily.WINDOWS).contains("last handle"));
    assertTrue(PlatformText.capacityDetail(OsFamily.WINDOWS, STATE, FS).contains("commit limit (RAM + paging files)"));
    assertTrue(PlatformText.capacityDetail(OsFamily.MACOS, STATE, FS).contains("POSIX shared-memory objects in "
        + "memory"));
  }
}

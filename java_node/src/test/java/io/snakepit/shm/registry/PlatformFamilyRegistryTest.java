package io.snakepit.shm.registry;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.snakepit.shm.platform.OsFamily;
import io.snakepit.shm.platform.PlatformText;
import io.snakepit.shm.platform.PretendPlatform;
import io.snakepit.shm.platform.SharedMemoryPlatform;
import io.snakepit.shm.segment.ManagerInstance;
import io.snakepit.shm.segment.SegmentStore;
import io.snakepit.shm.segment.StaleSweeper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import java.util.Locale;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * What the registry says and checks on each OS family (injected with
 * {@link PretendPlatform}; the segments are real files under /dev/shm): the :no_space
 * wording, the shm dir / state dir check, the per-segment file checks and the stale sweep.
 */
class PlatformFamilyRegistryTest {
  private static final long T0 = 1_000_000;
  private static final long MIB = 1L << 20;
  private ShmDirFixture shm;
  private RegionRegistry registry;

  @AfterEach
  void tearDown() throws IOException {
    try {
      if (registry != null) {
        registry.shutdown();
      }
    } finally {
      if (shm != null) {
        shm.close();
      }
    }
  }

  private RegionRegistry start(SharedMemoryPlatform platform) throws IOException {
    shm = new ShmDirFixture("family");
    long pid = platform.currentPid();
    ManagerInstance me = new ManagerInstance("t@h", pid, platform.processStartTicks(pid), 7, platform.bootId());
    registry = new RegionRegistry(new SegmentStore(platform, shm.dir, me), ShmConfig.defaults(1L << 30),
        HolderListener.NONE);
    return registry;
  }

  private static AllocateRequest req(long size) {
    return new AllocateRequest(size, new Holder.BeamProcess("alice"), null, null, false, 0, null, Access.READ_WRITE);
  }

  private void noSpaceIsWordedFor(OsFamily family) throws IOException {
    start(new PretendPlatform(family).failTruncateWithNoSpace().fixStatFs(4096 * MIB, 100 * MIB));
    ShmException e = assertThrows(ShmException.class, () -> registry.allocate(req(1000), T0));
    assertEquals(ErrorCode.NO_SPACE, e.code());
    SharedMemoryPlatform.FsStat fs = new SharedMemoryPlatform.FsStat(4096 * MIB, 100 * MIB, 100 * MIB);
    assertEquals(PlatformText.noSpaceMessage(family, shm.dir, fs, 1000), e.getMessage());
    assertEquals(PlatformText.noSpaceRemediation(family, shm.dir), e.remediation());
    assertEquals(1000L, e.extra().get("requested"));
    assertEquals(0, shm.fileCount(), "nothing half-made stays behind");
  }

  @Test
  void noSpaceOnLinuxSpeaksOfTheShmDirAndMount() throws IOException {
    noSpaceIsWordedFor(OsFamily.LINUX);
    ShmException e = assertThrows(ShmException.class, () -> registry.allocate(req(1000), T0));
    assertTrue(e.getMessage().startsWith("the shm dir " + shm.dir + " (size 4096 MiB, 100 MiB free)"),
        e.getMessage());
    assertTrue(e.remediation().contains("mount -o remount"), e.remediation());
  }

  @Test
  void noSpaceOnMacOsSpeaksOfMemory() throws IOException {
    noSpaceIsWordedFor(OsFamily.MACOS);
    ShmException e = assertThrows(ShmException.class, () -> registry.allocate(req(1000), T0));
    assertTrue(e.getMessage().contains("memory is short"), e.getMessage());
    assertNoTmpfsTalk(e);
  }

  @Test
  void noSpaceOnWindowsSpeaksOfTheCommitLimitAndThePagingFile() throws IOException {
    noSpaceIsWordedFor(OsFamily.WINDOWS);
    ShmException e = assertThrows(ShmException.class, () -> registry.allocate(req(1000), T0));
    assertTrue(e.getMessage().startsWith("the commit limit (RAM + paging files"), e.getMessage());
    assertTrue(e.remediation().contains("paging file"), e.remediation());
    assertNoTmpfsTalk(e);
  }

  private static void assertNoTmpfsTalk(ShmException e) {
    String all = (e.getMessage() + " " + e.remediation()).toLowerCase(Locale.ROOT);
    assertFalse(all.contains("tmpfs") || all.contains("mount") || all.contains("shm dir")
        || all.contains("shm-size"), all);
  }

  @Test
  void withoutASegmentDirectoryTheStateDirIsCheckedButSegmentFilesAndTheSweepAreNot() throws IOException {
    for (OsFamily family : List.of(OsFamily.MACOS, OsFamily.WINDOWS)) {
      start(new PretendPlatform(family));
      Files.setPosixFilePermissions(shm.dir, PosixFilePermissions.fromString("rwx------"));
      Region r = registry.allocate(req(1000), T0);
      // on these systems there is no file to stat: a missing one must not be reported
      Files.delete(r.segment().path());
      assertEquals(List.of(), registry.checkShmDir(100, T0), family.toString());

      Files.setPosixFilePermissions(shm.dir, PosixFilePermissions.fromString("rwxrwx---"));
      List<String> problems = registry.checkShmDir(100, T0 + 1000);
      assertEquals(List.of("state dir " + shm.dir + " can be written by group or others (mode 770); run chmod 700 "
          + shm.dir + " or use another directory"), problems, family.toString());
      assertEquals(1L, registry.security().counts().get(SecurityEvent.Kind.SHM_DIR));

      StaleSweeper.Result sweep = registry.sweepStale(false);
      assertFalse(sweep.listed());
      assertEquals(PlatformText.segmentListingUnavailable(family), sweep.unavailable());
      tearDown();
      registry = null;
      shm = null;
    }
  }

  @Test
  void onLinuxAMissingSegmentFileIsReportedAndAGroupWritableShmDirIsNot() throws IOException {
    start(new PretendPlatform(OsFamily.LINUX));
    Files.setPosixFilePermissions(shm.dir, PosixFilePermissions.fromString("rwxrwx---"));
    Region r = registry.allocate(req(1000), T0);
    assertEquals(List.of(), registry.checkShmDir(100, T0));
    Files.delete(r.segment().path());
    List<String> problems = registry.checkShmDir(100, T0 + 1000);
    assertEquals(1, problems.size(), problems.toString());
    assertTrue(problems.get(0).contains("was removed by another process"), problems.get(0));
    assertTrue(registry.sweepStale(false).listed());
  }
}

package io.snakepit.shm.platform;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.snakepit.shm.platform.SharedMemoryPlatform.FsStat;
import org.junit.jupiter.api.Test;

/** Pure parts of the macOS ABI: errno translation, kinfo_proc start time, memory facts, symbols. */
class MacOsAbiTest {
  @Test
  void errnoOneToThirtyFourIsTheSameOnLinux() {
    for (int errno : new int[] {PlatformException.EPERM, PlatformException.ENOENT, PlatformException.ESRCH,
        PlatformException.ENOMEM, PlatformException.EACCES, PlatformException.EEXIST, PlatformException.EINVAL,
        PlatformException.ENOSPC, 9}) {
      assertEquals(errno, MacOsAbi.portableErrno("shm_open", errno));
    }
  }

  @Test
  void errnoThatDiffersIsTranslated() {
    assertEquals(PlatformException.EOPNOTSUPP, MacOsAbi.portableErrno("mmap", MacOsAbi.ENOTSUP));
    assertEquals(PlatformException.EOPNOTSUPP, MacOsAbi.portableErrno("mmap", MacOsAbi.EOPNOTSUPP));
    assertEquals(PlatformException.ELOOP, MacOsAbi.portableErrno("shm_open", MacOsAbi.ELOOP));
    assertEquals(PlatformException.ENOSYS, MacOsAbi.portableErrno("shm_open", MacOsAbi.ENOSYS));
    assertEquals(MacOsAbi.LINUX_ENAMETOOLONG, MacOsAbi.portableErrno("shm_open", MacOsAbi.ENAMETOOLONG));
    assertEquals(11, MacOsAbi.portableErrno("shm_open", MacOsAbi.EAGAIN));
  }

  @Test
  void macNumbersThatWouldReadAsAnotherLinuxErrnoBecomeEio() {
    // macOS 38 is ENOTSOCK, 40 EMSGSIZE, 95 EMULTIHOP: not Linux's ENOSYS, ELOOP, EOPNOTSUPP
    for (int mac : new int[] {38, 40, 95, 36, 200}) {
      assertEquals(MacOsAbi.LINUX_EIO, MacOsAbi.portableErrno("mmap", mac), "macOS errno " + mac);
    }
  }

  @Test
  void ftruncateOutOfMemoryIsNoSpace() {
    assertEquals(PlatformException.ENOSPC, MacOsAbi.portableErrno("ftruncate", PlatformException.ENOMEM));
    assertEquals(PlatformException.ENOMEM, MacOsAbi.portableErrno("mmap", PlatformException.ENOMEM));
  }

  @Test
  void aTranslatedErrnoKeepsTheNativeNumberInTheText() {
    assertEquals("Operation not supported (macOS errno 45)", MacOsAbi.describe("Operation not supported", 45, 95));
    assertEquals("File exists", MacOsAbi.describe("File exists", 17, 17));
  }

  @Test
  void startTimeIsMicrosecondsSinceTheEpochOrAbsent() {
    assertEquals(1_700_000_000_123_456L, MacOsAbi.startMicros(648, 1_700_000_000L, 123_456));
    assertEquals(-1, MacOsAbi.startMicros(0, 0, 0), "sysctl returns no record for a missing pid");
    assertThrows(IllegalArgumentException.class, () -> MacOsAbi.startMicros(8, 1, 1));
    assertThrows(IllegalArgumentException.class, () -> MacOsAbi.startMicros(648, 1, 1_000_000));
    assertThrows(IllegalArgumentException.class, () -> MacOsAbi.startMicros(648, -1, 0));
  }

  @Test
  void memoryFactsCountFreeAndDroppablePages() {
    long page = 16384;
    FsStat fs = MacOsAbi.memoryFacts(16L << 30, page, 1000, 200, 50, 3000);

    assertEquals(16L << 30, fs.totalBytes());
    assertEquals(1200 * page, fs.freeBytes());
    assertEquals(4250 * page, fs.availableBytes());
  }

  @Test
  void memoryFactsNeverExceedTheTotal() {
    FsStat fs = MacOsAbi.memoryFacts(1L << 20, 4096, 1000, 0, 0, 1000);
    assertEquals(1L << 20, fs.freeBytes());
    assertEquals(1L << 20, fs.availableBytes());
    FsStat huge = MacOsAbi.memoryFacts(1L << 40, 1L << 40, Long.MAX_VALUE / 2, 0, 0, 0);
    assertEquals(1L << 40, huge.freeBytes());
    assertThrows(IllegalArgumentException.class, () -> MacOsAbi.memoryFacts(0, 4096, 0, 0, 0, 0));
  }

  @Test
  void fstatUsesTheSixtyFourBitInodeLayoutOnBothCpus() {
    assertEquals("fstat$INODE64", MacOsAbi.fstatSymbol(true));
    assertEquals("fstat", MacOsAbi.fstatSymbol(false));
  }

  @Test
  void statOffsetsMatchTheDarwinLayout() {
    // dev i32, mode u16, nlink u16, ino u64, uid, gid, rdev, pad, 4 timespecs of 16 bytes
    assertEquals(4, MacOsAbi.STAT_MODE_OFFSET);
    assertEquals(4 + 2 + 2 + 8, MacOsAbi.STAT_UID_OFFSET);
    assertEquals(32 + 4 * 16, MacOsAbi.STAT_SIZE_OFFSET);
    assertEquals(MacOsAbi.STAT_SIZE_OFFSET + 8, MacOsAbi.STAT_BLOCKS_OFFSET);
  }
}

package io.snakepit.shm.platform;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.snakepit.shm.platform.SharedMemoryPlatform.FileStat;
import io.snakepit.shm.platform.SharedMemoryPlatform.FsStat;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileStore;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermission;
import java.util.Arrays;
import java.util.EnumSet;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * LinuxPlatform against the real /dev/shm: every test works in its own directory
 * {@code /dev/shm/snktest-<random>}, removed with all its descriptors and mappings after
 * the test, pass or fail.
 */
class LinuxPlatformTest {
  private static final int EBADF = 9;
  private static final int S_IFMT = 0170000;
  private static final int S_IFREG = 0100000;

  private final LinuxPlatform platform = new LinuxPlatform();
  private ShmTestDir shm;
  private long page;

  @BeforeEach
  void makeDir() throws IOException {
    shm = new ShmTestDir(platform);
    page = platform.pageSizeBytes();
  }

  @AfterEach
  void removeDir() throws IOException {
    shm.close();
  }

  @Test
  void createExclusiveFailsWithEexistWhenTheFileExists() {
    shm.create("seg");

    PlatformException e = assertThrows(PlatformException.class, () -> shm.create("seg"));

    assertEquals(PlatformException.EEXIST, e.errno());
    assertEquals("open", e.call());
    assertEquals(shm.path("seg").toString(), e.name());
    assertEquals("File exists", e.strerror());
    assertTrue(e.getMessage().contains("errno 17"), e.getMessage());
  }

  @Test
  void createExclusiveMakesARegularFileWithMode0600() throws IOException {
    int fd = shm.create("seg");

    FileStat stat = platform.stat(fd, "seg");
    assertEquals(0600, stat.mode() & 0777);
    assertEquals(S_IFREG, stat.mode() & S_IFMT);
    assertEquals(EnumSet.of(PosixFilePermission.OWNER_READ, PosixFilePermission.OWNER_WRITE),
        Files.getPosixFilePermissions(shm.path("seg")));
  }

  @Test
  void createExclusiveAppliesTheModeWhateverTheUmask() throws IOException {
    // umask is usually 022, which open(2) alone would apply to 0666
    int fd = shm.track(platform.createExclusive(shm.dir, "shared", 0666));

    assertEquals(0666, platform.stat(fd, "shared").mode() & 07777);
    assertEquals(0666, (int) Files.getAttribute(shm.path("shared"), "unix:mode") & 07777);
  }

  @Test
  void statMatchesWhatJavaNioReadsForTheSameFile() throws IOException {
    int fd = shm.create("seg");
    platform.truncate(fd, 3 * page + 5, "seg");
    platform.reserve(fd, 0, 2 * page, "seg");

    FileStat stat = platform.stat(fd, "seg");
    Map<String, Object> unix = Files.readAttributes(shm.path("seg"), "unix:size,mode,uid");
    assertEquals(3 * page + 5, stat.sizeBytes());
    assertEquals((long) unix.get("size"), stat.sizeBytes());
    assertEquals((int) unix.get("mode"), stat.mode());
    assertEquals((long) (int) unix.get("uid"), stat.ownerUid());
    assertEquals(2 * page, stat.allocatedBytes());
  }

  @Test
  void statThroughTheOldGlibcEntryPointAgreesWithFstat() {
    int fd = shm.create("seg");
    platform.truncate(fd, page + 1, "seg");
    platform.reserve(fd, 0, page, "seg");

    assertEquals(platform.stat(fd, "seg", false), platform.stat(fd, "seg", true));
    PlatformException e = assertThrows(PlatformException.class, () -> platform.stat(-1, "bad", true));
    assertEquals(EBADF, e.errno());
    assertEquals("fstat", e.call());
  }

  @Test
  void openExistingRefusesASymlinkWithEloop() throws IOException {
    shm.create("target");
    Files.createSymbolicLink(shm.path("link"), shm.path("target"));

    PlatformException rw = assertThrows(PlatformException.class, () -> shm.open("link", true));
    PlatformException ro = assertThrows(PlatformException.class, () -> shm.open("link", false));

    assertEquals(PlatformException.ELOOP, rw.errno());
    assertEquals(PlatformException.ELOOP, ro.errno());
    assertEquals("open", rw.call());
  }

  @Test
  void createExclusiveDoesNotFollowADanglingSymlink() throws IOException {
    Files.createSymbolicLink(shm.path("link"), shm.path("would-be-created"));

    PlatformException e = assertThrows(PlatformException.class, () -> shm.create("link"));

    assertEquals(PlatformException.EEXIST, e.errno());
    assertFalse(Files.exists(shm.path("would-be-created"), LinkOption.NOFOLLOW_LINKS));
  }

  @Test
  void openExistingOfAMissingFileFailsWithEnoent() {
    PlatformException e = assertThrows(PlatformException.class, () -> shm.open("missing", true));

    assertEquals(PlatformException.ENOENT, e.errno());
  }

  @Test
  void fileNamesMustBeOnePathComponent() {
    assertThrows(IllegalArgumentException.class, () -> platform.createExclusive(shm.dir, "a/b", 0600));
    assertThrows(IllegalArgumentException.class, () -> platform.openExisting(shm.dir, "..", true));
    assertThrows(IllegalArgumentException.class, () -> platform.unlink(shm.dir, ""));
  }

  @Test
  void writesThroughAMappingAreSeenByASecondMappingAndByFileReads() throws IOException {
    long sizeBytes = 4 * page;
    int fd = shm.create("seg");
    platform.truncate(fd, sizeBytes, "seg");
    platform.reserve(fd, 0, sizeBytes, "seg");
    Mapping writer = shm.map(fd, 0, sizeBytes, true, "seg");
    byte[] pattern = new byte[1000];
    for (int i = 0; i < pattern.length; i++) {
      pattern[i] = (byte) (i * 7 + 1);
    }

    writer.putByte(0, (byte) 0x5A);
    writer.putShort(2, (short) 0x1234);
    writer.putInt(4, 0xCAFEBABE);
    writer.putLong(8, 0x0102030405060708L);
    writer.putLongRelease(16, -2L);
    writer.putBytes(page - 500, pattern, 0, pattern.length); // crosses a page boundary
    writer.fill(3 * page, page, (byte) 0x77);

    int readerFd = shm.open("seg", false);
    Mapping reader = shm.map(readerFd, 0, sizeBytes, false, "seg");
    assertEquals((byte) 0x5A, reader.getByte(0));
    assertEquals((short) 0x1234, reader.getShort(2));
    assertEquals(0xCAFEBABE, reader.getInt(4));
    assertEquals(0x0102030405060708L, reader.getLong(8));
    assertEquals(-2L, reader.getLongAcquire(16));
    byte[] back = new byte[pattern.length + 2];
    reader.getBytes(page - 500, back, 1, pattern.length);
    assertArrayEquals(pattern, Arrays.copyOfRange(back, 1, 1 + pattern.length));
    assertEquals((byte) 0x77, reader.getByte(3 * page));
    assertEquals((byte) 0x77, reader.getByte(4 * page - 1));

    byte[] file = Files.readAllBytes(shm.path("seg"));
    assertEquals(sizeBytes, file.length);
    ByteBuffer le = ByteBuffer.wrap(file).order(ByteOrder.LITTLE_ENDIAN);
    assertEquals((byte) 0x5A, le.get(0));
    assertEquals((byte) 0x34, le.get(2)); // little-endian: low byte first
    assertEquals((short) 0x1234, le.getShort(2));
    assertEquals(0xCAFEBABE, le.getInt(4));
    assertEquals(0x0102030405060708L, le.getLong(8));
    assertEquals(-2L, le.getLong(16));
    assertArrayEquals(pattern, Arrays.copyOfRange(file, (int) page - 500, (int) page - 500 + pattern.length));
    assertEquals(0, file[3000]);
    assertEquals((byte) 0x77, file[(int) (3 * page + 123)]);
  }

  @Test
  void mapAtAnOffsetSeesThatPartOfTheFile() {
    int fd = shm.create("seg");
    platform.truncate(fd, 3 * page, "seg");
    Mapping whole = shm.map(fd, 0, 3 * page, true, "seg");
    whole.putLong(2 * page + 8, 42L);

    Mapping tail = shm.map(fd, 2 * page, page, false, "seg");

    assertEquals(2 * page, tail.fileOffsetBytes());
    assertEquals(page, tail.lengthBytes());
    assertEquals("seg", tail.name());
    assertEquals(42L, tail.getLong(8));
  }

  @Test
  void mapRejectsAnUnalignedOffsetAndAnEmptyLength() {
    int fd = shm.create("seg");
    platform.truncate(fd, 2 * page, "seg");

    assertThrows(IllegalArgumentException.class, () -> platform.map(fd, 100, page, true, "seg"));
    assertThrows(IllegalArgumentException.class, () -> platform.map(fd, 0, 0, true, "seg"));
  }

  @Test
  void writableMappingOfAReadOnlyDescriptorFailsWithEacces() {
    int fd = shm.create("seg");
    platform.truncate(fd, page, "seg");
    int readOnly = shm.open("seg", false);

    PlatformException e = assertThrows(PlatformException.class,
        () -> platform.map(readOnly, 0, page, true, "seg"));

    assertEquals(PlatformException.EACCES, e.errno());
    assertEquals("mmap", e.call());
  }

  @Test
  void readOnlyMappingRefusesWritesInsteadOfCrashing() {
    int fd = shm.create("seg");
    platform.truncate(fd, page, "seg");
    Mapping mapping = shm.map(fd, 0, page, false, "seg");

    assertThrows(IllegalStateException.class, () -> mapping.putByte(0, (byte) 1));
    assertThrows(IllegalStateException.class, () -> mapping.putLongRelease(0, 1L));
    assertThrows(IllegalStateException.class, () -> mapping.fill(0, 10, (byte) 1));
    assertEquals(0, mapping.getLong(0));
  }

  @Test
  void reserveAllocatesTheRangeAndGrowsAShorterFile() {
    int fd = shm.create("seg");
    platform.truncate(fd, 4 * page, "seg");
    assertEquals(0, platform.stat(fd, "seg").allocatedBytes(), "tmpfs files start sparse");

    platform.reserve(fd, page, 2 * page, "seg");
    assertEquals(2 * page, platform.stat(fd, "seg").allocatedBytes());

    platform.reserve(fd, 4 * page, page, "seg");
    assertEquals(5 * page, platform.stat(fd, "seg").sizeBytes());

    platform.reserve(fd, 0, 0, "seg"); // empty range: nothing to do
  }

  @Test
  void punchHoleReadsZerosKeepsTheSizeAndFreesWholePages() throws IOException {
    long sizeBytes = 4 * page;
    int fd = shm.create("seg");
    platform.truncate(fd, sizeBytes, "seg");
    platform.reserve(fd, 0, sizeBytes, "seg");
    Mapping mapping = shm.map(fd, 0, sizeBytes, true, "seg");
    mapping.fill(0, sizeBytes, (byte) 0xAB);
    long start = 1000;
    long end = 3 * page - 5;

    platform.punchHole(fd, start, end - start, "seg");

    FileStat stat = platform.stat(fd, "seg");
    assertEquals(sizeBytes, stat.sizeBytes());
    assertEquals(3 * page, stat.allocatedBytes(), "page 1 (wholly inside the range) is given back");
    assertRangeIs(mapping, start, end, (byte) 0xAB);
    byte[] file = Files.readAllBytes(shm.path("seg"));
    for (int i = 0; i < file.length; i++) {
      assertEquals(i >= start && i < end ? 0 : (byte) 0xAB, file[i], "byte " + i);
    }
  }

  @Test
  void zeroingFallbackOfPunchHoleZerosOnlyTheRangeInsideTheFile() {
    long sizeBytes = 3 * page;
    int fd = shm.create("seg");
    platform.truncate(fd, sizeBytes, "seg");
    Mapping mapping = shm.map(fd, 0, sizeBytes, true, "seg");
    mapping.fill(0, sizeBytes, (byte) 0xCD);

    platform.zeroThroughMapping(fd, page + 3, page, "seg");
    platform.zeroThroughMapping(fd, 3 * page - 10, 10 * page, "seg"); // runs past the end: clipped

    assertEquals(sizeBytes, platform.stat(fd, "seg").sizeBytes());
    for (long i = 0; i < sizeBytes; i++) {
      boolean zeroed = (i >= page + 3 && i < 2 * page + 3) || i >= 3 * page - 10;
      assertEquals(zeroed ? 0 : (byte) 0xCD, mapping.getByte(i), "byte " + i);
    }
  }

  @Test
  void statFsOfDevShmMatchesJavaNioFileStore() throws IOException {
    FsStat fs = platform.statFs(Path.of("/dev/shm"));
    FileStore store = Files.getFileStore(Path.of("/dev/shm"));

    assertTrue(fs.totalBytes() > 0, fs.toString());
    assertEquals(store.getTotalSpace(), fs.totalBytes());
    assertTrue(fs.freeBytes() <= fs.totalBytes(), fs.toString());
    assertTrue(fs.availableBytes() <= fs.freeBytes(), fs.toString());
    long slackBytes = 64L << 20; // other processes may allocate in between
    assertTrue(Math.abs(store.getUnallocatedSpace() - fs.freeBytes()) < slackBytes, fs + " vs " + store);
  }

  @Test
  void statFsOfAMissingDirectoryFailsWithEnoent() {
    PlatformException e = assertThrows(PlatformException.class, () -> platform.statFs(shm.path("missing")));

    assertEquals(PlatformException.ENOENT, e.errno());
    assertEquals("statvfs", e.call());
  }

  @Test
  void unlinkRemovesTheNameAndAMissingNameFailsWithEnoent() {
    shm.create("seg");

    platform.unlink(shm.dir, "seg");

    assertFalse(Files.exists(shm.path("seg")));
    PlatformException e = assertThrows(PlatformException.class, () -> platform.unlink(shm.dir, "seg"));
    assertEquals(PlatformException.ENOENT, e.errno());
    assertEquals("unlink", e.call());
  }

  @Test
  void closeOfAClosedDescriptorFailsWithEbadf() {
    int fd = shm.create("seg");
    shm.closeFd(fd);

    PlatformException e = assertThrows(PlatformException.class, () -> platform.close(fd));

    assertEquals(EBADF, e.errno());
    assertEquals("close", e.call());
  }

  @Test
  void truncateOfABadDescriptorNamesTheSegment() {
    PlatformException e = assertThrows(PlatformException.class, () -> platform.truncate(-1, 10, "seg-x"));

    assertEquals(EBADF, e.errno());
    assertEquals("ftruncate", e.call());
    assertEquals("seg-x", e.name());
  }

  @Test
  void pageSizeIsAPowerOfTwo() {
    assertTrue(page >= 4096 && Long.bitCount(page) == 1, "page " + page);
  }

  @Test
  void currentPidIsThisProcess() {
    assertEquals(ProcessHandle.current().pid(), platform.currentPid());
  }

  @Test
  void processStartTicksOfThisProcessIsPositiveAndAChildStartsNoEarlier() throws Exception {
    long self = platform.processStartTicks(platform.currentPid());
    Process child = new ProcessBuilder("sleep", "30").start();
    try {
      long childTicks = platform.processStartTicks(child.pid());

      assertTrue(self > 0, "self " + self);
      assertTrue(childTicks >= self, "child " + childTicks + " < self " + self);
      assertEquals(self, platform.processStartTicks(platform.currentPid()), "stable across calls");
    } finally {
      child.destroyForcibly().waitFor();
    }
  }

  @Test
  void processStartTicksOfANonExistentProcessIsMinusOne() throws IOException {
    long pidMax = Long.parseLong(Files.readString(Path.of("/proc/sys/kernel/pid_max")).trim());

    assertEquals(-1, platform.processStartTicks(pidMax + 12345));
    assertEquals(-1, platform.processStartTicks(0));
    assertEquals(-1, platform.processStartTicks(-5));
  }

  @Test
  void bootIdIsSixteenNonZeroBytesMatchingTheProcFile() throws IOException {
    byte[] id = platform.bootId();

    assertEquals(16, id.length);
    assertFalse(Arrays.equals(new byte[16], id));
    assertArrayEquals(id, platform.bootId());
    String text = Files.readString(Path.of("/proc/sys/kernel/random/boot_id"), StandardCharsets.US_ASCII);
    assertEquals(text.trim().replace("-", ""), java.util.HexFormat.of().formatHex(id));
  }

  @Test
  void everyAccessAfterUnmapThrowsIllegalStateAndUnmapIsIdempotent() {
    int fd = shm.create("seg");
    platform.truncate(fd, page, "seg");
    Mapping mapping = platform.map(fd, 0, page, true, "seg");
    assertTrue(mapping.isMapped());

    platform.unmap(mapping);
    platform.unmap(mapping);

    assertFalse(mapping.isMapped());
    byte[] buf = new byte[8];
    assertThrows(IllegalStateException.class, () -> mapping.getByte(0));
    assertThrows(IllegalStateException.class, () -> mapping.putByte(0, (byte) 1));
    assertThrows(IllegalStateException.class, () -> mapping.getShort(0));
    assertThrows(IllegalStateException.class, () -> mapping.putShort(0, (short) 1));
    assertThrows(IllegalStateException.class, () -> mapping.getInt(0));
    assertThrows(IllegalStateException.class, () -> mapping.putInt(0, 1));
    assertThrows(IllegalStateException.class, () -> mapping.getLong(0));
    assertThrows(IllegalStateException.class, () -> mapping.putLong(0, 1L));
    assertThrows(IllegalStateException.class, () -> mapping.getLongAcquire(0));
    assertThrows(IllegalStateException.class, () -> mapping.putLongRelease(0, 1L));
    assertThrows(IllegalStateException.class, () -> mapping.getBytes(0, buf, 0, 8));
    assertThrows(IllegalStateException.class, () -> mapping.putBytes(0, buf, 0, 8));
    assertThrows(IllegalStateException.class, () -> mapping.fill(0, 8, (byte) 0));
  }

  @Test
  void accessesOutsideTheMappingThrowIndexOutOfBounds() {
    int fd = shm.create("seg");
    platform.truncate(fd, page, "seg");
    Mapping m = shm.map(fd, 0, page, true, "seg");
    byte[] buf = new byte[16];

    m.putLong(page - 8, 7L); // last whole long fits
    assertEquals(7L, m.getLongAcquire(page - 8));
    IndexOutOfBoundsException e = assertThrows(IndexOutOfBoundsException.class, () -> m.getLong(page - 7));
    assertTrue(e.getMessage().contains("offset " + (page - 7)) && e.getMessage().contains("'seg'")
        && e.getMessage().contains(page + " bytes"), e.getMessage());
    assertThrows(IndexOutOfBoundsException.class, () -> m.getByte(-1));
    assertThrows(IndexOutOfBoundsException.class, () -> m.getByte(page));
    assertThrows(IndexOutOfBoundsException.class, () -> m.putShort(page - 1, (short) 1));
    assertThrows(IndexOutOfBoundsException.class, () -> m.getInt(page - 3));
    assertThrows(IndexOutOfBoundsException.class, () -> m.putLongRelease(page, 1L));
    assertThrows(IndexOutOfBoundsException.class, () -> m.getLong(Long.MAX_VALUE));
    assertThrows(IndexOutOfBoundsException.class, () -> m.putBytes(page - 8, buf, 0, 16));
    assertThrows(IndexOutOfBoundsException.class, () -> m.getBytes(0, buf, 10, 8), "array bounds too");
    assertThrows(IndexOutOfBoundsException.class, () -> m.getBytes(0, buf, 0, -1));
    assertThrows(IndexOutOfBoundsException.class, () -> m.fill(1, page, (byte) 0));
    assertThrows(IndexOutOfBoundsException.class, () -> m.fill(0, -1, (byte) 0));
  }

  @Test
  void orderedAccessesNeedAnAlignedOffset() {
    int fd = shm.create("seg");
    platform.truncate(fd, page, "seg");
    Mapping m = shm.map(fd, 0, page, true, "seg");

    assertThrows(IllegalArgumentException.class, () -> m.putLongRelease(4, 1L));
    assertThrows(IllegalArgumentException.class, () -> m.getLongAcquire(12));
  }

  @Test
  void orderedAccessesWorkAcrossAndBeyondTheFirstTwoGibibytesOfAMapping() {
    long sizeBytes = 3L << 30; // sparse: only the pages touched below are allocated
    long windowEnd = Integer.MAX_VALUE & ~7L; // LinuxMapping's first ByteBuffer window
    long beyond = 5L << 29; // 2.5 GiB, page aligned
    int fd = shm.create("big");
    platform.truncate(fd, sizeBytes, "big");
    platform.reserve(fd, windowEnd - 8, 16, "big");
    platform.reserve(fd, beyond, page, "big");
    Mapping m = shm.map(fd, 0, sizeBytes, true, "big");

    m.putLongRelease(windowEnd - 8, 0x0A0B0C0D0E0F1011L); // last long inside the window
    m.putLongRelease(windowEnd, -3L); // first long after it
    m.putLongRelease(beyond + 64, 0x1122334455667788L);
    m.putLongRelease(beyond + page - 8, -7L);

    assertEquals(0x0A0B0C0D0E0F1011L, m.getLongAcquire(windowEnd - 8));
    assertEquals(-3L, m.getLongAcquire(windowEnd));
    assertEquals(-3L, m.getLong(windowEnd));
    assertEquals(0x1122334455667788L, m.getLongAcquire(beyond + 64));
    assertEquals(0x1122334455667788L, m.getLong(beyond + 64));
    assertEquals((byte) 0x88, m.getByte(beyond + 64), "little-endian");
    assertEquals(-7L, m.getLongAcquire(beyond + page - 8));
    assertEquals(2 * page, platform.stat(fd, "big").allocatedBytes());
  }

  @Test
  void fillCoversALargeRangeInOneCall() {
    long sizeBytes = 64L << 20;
    int fd = shm.create("seg");
    platform.truncate(fd, sizeBytes, "seg");
    platform.reserve(fd, 0, sizeBytes, "seg");
    Mapping m = shm.map(fd, 0, sizeBytes, true, "seg");

    long startNs = System.nanoTime();
    m.fill(1, sizeBytes - 2, (byte) 0x3C);
    long elapsedMs = (System.nanoTime() - startNs) / 1_000_000;

    assertEquals(0, m.getByte(0));
    assertEquals((byte) 0x3C, m.getByte(1));
    assertEquals((byte) 0x3C, m.getByte(sizeBytes / 2));
    assertEquals((byte) 0x3C, m.getByte(sizeBytes - 2));
    assertEquals(0, m.getByte(sizeBytes - 1));
    assertTrue(elapsedMs < 2000, "64 MiB fill took " + elapsedMs + " ms");
  }

  private static void assertRangeIs(Mapping m, long zeroStart, long zeroEnd, byte outside) {
    for (long i = 0; i < m.lengthBytes(); i++) {
      byte expected = i >= zeroStart && i < zeroEnd ? 0 : outside;
      if (m.getByte(i) != expected) {
        assertEquals(expected, m.getByte(i), "byte " + i + " of the mapping");
      }
    }
  }
}

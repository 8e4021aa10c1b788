package io.snakepit.shm.platform;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.snakepit.shm.platform.SharedMemoryPlatform.FsStat;
import io.snakepit.shm.segment.SegmentNames;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import org.junit.jupiter.api.Test;

/** Pure parts of WindowsPlatform: names, security descriptor, errors, structure layouts, views. */
class WindowsRulesTest {
  private static final String SID = "S-1-5-21-3623811015-3361044348-30300820-1013";

  @Test
  void sectionsAreNamedInTheLocalNamespaceByDefault() {
    assertEquals("Local\\snkabc", WindowsNamespace.LOCAL.objectName("snkabc"));
    assertEquals("Global\\snkabc", WindowsNamespace.GLOBAL.objectName("snkabc"));
    String segment = new SegmentNames().newFileName();
    assertEquals("Local\\" + segment, WindowsNamespace.LOCAL.objectName(segment));
  }

  @Test
  void sectionNamesAreOneComponent() {
    for (String bad : new String[] {"", "a\\b", "Global\\snk", "a/b", "snk\0"}) {
      assertThrows(IllegalArgumentException.class, () -> WindowsNamespace.LOCAL.objectName(bad), bad);
    }
    assertThrows(IllegalArgumentException.class, () -> WindowsNamespace.LOCAL.objectName("x".repeat(255)));
  }

  @Test
  void theDescriptorGrantsEverythingToTheUserAndNothingToAnyoneElse() {
    assertEquals("D:P(A;;GA;;;" + SID + ")", WindowsSecurity.ownerOnlySddl(SID));
    assertEquals("D:P(A;;GA;;;S-1-5-18)", WindowsSecurity.ownerOnlySddl("S-1-5-18"));
  }

  @Test
  void onlyASidStringCanEnterTheDescriptor() {
    for (String bad : new String[] {"", "WD", "S-1-5", "S-1-5-21-1)(A;;GA;;;WD", "S-1-5-21-1;", "s-1-5-21-1",
        "S-2-5-21-1", "S-1-5-21-abc"}) {
      assertFalse(WindowsSecurity.isSidString(bad), bad);
      assertThrows(IllegalArgumentException.class, () -> WindowsSecurity.ownerOnlySddl(bad), bad);
    }
    assertThrows(IllegalArgumentException.class, () -> WindowsSecurity.ownerOnlySddl(null));
    assertTrue(WindowsSecurity.isSidString(SID));
  }

  @Test
  void onlyOwnerOnlyModesCanBeHonoured() {
    WindowsSecurity.requireOwnerOnlyMode(0600);
    WindowsSecurity.requireOwnerOnlyMode(0400);
    for (int mode : new int[] {0640, 0604, 0666, 0777, 010600}) {
      IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
          () -> WindowsSecurity.requireOwnerOnlyMode(mode), Integer.toOctalString(mode));
      assertTrue(e.getMessage().contains("current user only"), e.getMessage());
    }
  }

  @Test
  void win32ErrorsBecomeTheErrnoTheLayersAboveExpect() {
    assertEquals(PlatformException.EEXIST, WindowsErrors.toErrno("CreateFileMappingW",
        WindowsErrors.ERROR_ALREADY_EXISTS));
    assertEquals(PlatformException.ENOENT, WindowsErrors.toErrno("OpenFileMappingW",
        WindowsErrors.ERROR_FILE_NOT_FOUND));
    assertEquals(PlatformException.EACCES, WindowsErrors.toErrno("OpenFileMappingW",
        WindowsErrors.ERROR_ACCESS_DENIED));
    assertEquals(PlatformException.EPERM, WindowsErrors.toErrno("CreateFileMappingW",
        WindowsErrors.ERROR_PRIVILEGE_NOT_HELD));
    assertEquals(PlatformException.EINVAL, WindowsErrors.toErrno("MapViewOfFile",
        WindowsErrors.ERROR_MAPPED_ALIGNMENT));
    assertEquals(PlatformException.EOPNOTSUPP, WindowsErrors.toErrno("x", WindowsErrors.ERROR_NOT_SUPPORTED));
    assertEquals(5, WindowsErrors.toErrno("x", 31), "anything else is EIO");
  }

  @Test
  void runningOutOfCommitIsNoSpaceWhenCreatingAndNoMemoryWhenMapping() {
    for (int win32 : new int[] {WindowsErrors.ERROR_COMMITMENT_LIMIT, WindowsErrors.ERROR_NOT_ENOUGH_MEMORY,
        WindowsErrors.ERROR_OUTOFMEMORY}) {
      PlatformException e = WindowsErrors.error("CreateFileMappingW", "Local\\snkx", win32, "text");
      assertTrue(e.isNoSpace(), "" + win32);
    }
    assertTrue(WindowsErrors.error("MapViewOfFile", "Local\\snkx", WindowsErrors.ERROR_NOT_ENOUGH_MEMORY, null)
        .isNoMemory());
    assertTrue(WindowsErrors.error("MapViewOfFile", "Local\\snkx", WindowsErrors.ERROR_COMMITMENT_LIMIT, null)
        .isNoSpace());
  }

  @Test
  void theMessageKeepsTheWin32CodeAndText() {
    PlatformException e = WindowsErrors.error("CreateFileMappingW", "Local\\snkx", 1455,
        "The paging file is too small for this operation to complete.\r\n");
    assertEquals("The paging file is too small for this operation to complete. (Win32 error 1455)", e.strerror());
    assertEquals("Windows error (Win32 error 87)", WindowsErrors.describe(null, 87));
  }

  @Test
  void sizesAndOffsetsAreSplitIntoHighAndLowWords() {
    long size = 0x1_2345_6789L;
    assertEquals(1, WindowsAbi.high(size));
    assertEquals(0x2345_6789, WindowsAbi.low(size));
    assertEquals(size, (Integer.toUnsignedLong(WindowsAbi.high(size)) << 32)
        | Integer.toUnsignedLong(WindowsAbi.low(size)));
    assertEquals(0, WindowsAbi.high(4096));
    assertEquals(0xFFFF_FFFF, WindowsAbi.low(0xFFFF_FFFFL));
  }

  @Test
  void viewsStartAtTheAllocationGranularity() {
    long g = 65536;
    assertEquals(new WindowsAbi.View(0, 4096, 0), WindowsAbi.view(0, 4096, g));
    assertEquals(new WindowsAbi.View(0, 8192 + 4096, 8192), WindowsAbi.view(8192, 4096, g));
    assertEquals(new WindowsAbi.View(2 * g, 4096 + 4096, 4096), WindowsAbi.view(2 * g + 4096, 4096, g));
    assertEquals(new WindowsAbi.View(g, 1, 0), WindowsAbi.view(g, 1, g));
    assertThrows(IllegalArgumentException.class, () -> WindowsAbi.view(0, 0, g));
    assertThrows(IllegalArgumentException.class, () -> WindowsAbi.view(-4096, 1, g));
  }

  @Test
  void systemInfoGivesPageSizeAndGranularity() {
    ByteBuffer info = le(WindowsAbi.SYSTEM_INFO_BYTES);
    info.putInt(WindowsAbi.SYSTEM_INFO_PAGE_SIZE_OFFSET, 4096);
    info.putInt(WindowsAbi.SYSTEM_INFO_GRANULARITY_OFFSET, 65536);

    assertEquals(new WindowsAbi.SystemInfo(4096, 65536), WindowsAbi.systemInfo(info));
    info.putInt(WindowsAbi.SYSTEM_INFO_GRANULARITY_OFFSET, 1000);
    assertThrows(IllegalArgumentException.class, () -> WindowsAbi.systemInfo(info));
  }

  @Test
  void statFsIsTheCommitLimitAndWhatIsLeftOfIt() {
    ByteBuffer status = le(WindowsAbi.MEMORYSTATUSEX_BYTES);
    status.putLong(WindowsAbi.MEMORYSTATUSEX_TOTAL_PAGE_FILE_OFFSET, 32L << 30);
    status.putLong(WindowsAbi.MEMORYSTATUSEX_AVAIL_PAGE_FILE_OFFSET, 20L << 30);

    assertEquals(new FsStat(32L << 30, 20L << 30, 20L << 30), WindowsAbi.commitFacts(status));
  }

  @Test
  void theBootIdIsBootTimeWithoutTheClockChangesSinceBoot() {
    long boot = 133_500_000_000_000_000L; // 2024, in 100 ns units since 1601
    ByteBuffer before = timeOfDay(boot, 0);
    // the clock was set 90 s forward: BootTime and BootTimeBias both moved by 90 s
    ByteBuffer after = timeOfDay(boot + 900_000_000L, 900_000_000L);

    byte[] id = WindowsAbi.bootId(before);
    assertArrayEquals(id, WindowsAbi.bootId(after));
    assertEquals(16, id.length);
    assertEquals(boot, ByteBuffer.wrap(id).order(ByteOrder.LITTLE_ENDIAN).getLong(0));
    assertFalse(java.util.Arrays.equals(id, WindowsAbi.bootId(timeOfDay(boot + 1, 0))), "another boot");
    assertThrows(IllegalArgumentException.class, () -> WindowsAbi.bootId(timeOfDay(0, 0)));
  }

  @Test
  void processIdentityIsTheCreationTimeOrAbsent() {
    assertEquals(133_500_000_000_000_123L, WindowsAbi.startTimeOrAbsent(42, 0, false, 133_500_000_000_000_123L));
    assertEquals(-1, WindowsAbi.startTimeOrAbsent(42, WindowsErrors.ERROR_INVALID_PARAMETER, false, 0),
        "no such process");
    assertEquals(-1, WindowsAbi.startTimeOrAbsent(42, 0, true, 133_500_000_000_000_123L), "exited");
  }

  @Test
  void aProcessThatCannotBeQueriedIsNeitherAliveNorDead() {
    PlatformException e = assertThrows(PlatformException.class,
        () -> WindowsAbi.startTimeOrAbsent(4, WindowsErrors.ERROR_ACCESS_DENIED, false, 0));
    assertEquals(PlatformException.EACCES, e.errno());
    assertEquals("pid 4", e.name());
    assertTrue(e.strerror().contains("belongs to another user or is protected"), e.strerror());
  }

  private static ByteBuffer timeOfDay(long bootTime, long bias) {
    ByteBuffer b = le(WindowsAbi.TIME_OF_DAY_BYTES);
    b.putLong(WindowsAbi.TIME_OF_DAY_BOOT_TIME_OFFSET, bootTime);
    b.putLong(WindowsAbi.TIME_OF_DAY_BOOT_TIME_BIAS_OFFSET, bias);
    return b;
  }

  private static ByteBuffer le(int bytes) {
    return ByteBuffer.allocate(bytes).order(ByteOrder.LITTLE_ENDIAN);
  }
}

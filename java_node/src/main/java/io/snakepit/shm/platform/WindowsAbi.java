package io.snakepit.shm.platform;

import io.snakepit.shm.platform.SharedMemoryPlatform.FsStat;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * The Win32 constants and structure layouts (64-bit Windows, x64 and ARM64) that
 * {@link WindowsPlatform} uses, and pure functions on them, testable on any OS. Sources:
 * the Windows SDK headers winnt.h, memoryapi.h, sysinfoapi.h, processthreadsapi.h and the
 * documentation of each call.
 */
final class WindowsAbi {
  static final int PAGE_READWRITE = 0x04;
  static final int SEC_COMMIT = 0x08000000;
  static final int FILE_MAP_WRITE = 0x0002;
  static final int FILE_MAP_READ = 0x0004;
  static final int PROCESS_QUERY_LIMITED_INFORMATION = 0x1000;
  static final int SYNCHRONIZE = 0x00100000;
  static final int TOKEN_QUERY = 0x0008;
  static final int TOKEN_USER_CLASS = 1;
  static final int SDDL_REVISION_1 = 1;
  static final int WAIT_OBJECT_0 = 0;
  static final int WAIT_TIMEOUT = 0x102;
  static final int FORMAT_MESSAGE_FROM_SYSTEM = 0x1000;
  static final int FORMAT_MESSAGE_IGNORE_INSERTS = 0x200;
  /** NtQuerySystemInformation class SystemTimeOfDayInformation. */
  static final int SYSTEM_TIME_OF_DAY_INFORMATION = 3;

  /** SECURITY_ATTRIBUTES: nLength u32 @0, lpSecurityDescriptor @8, bInheritHandle @16; 24 bytes. */
  static final int SECURITY_ATTRIBUTES_BYTES = 24;
  static final int SECURITY_ATTRIBUTES_DESCRIPTOR_OFFSET = 8;
  static final int SECURITY_ATTRIBUTES_INHERIT_OFFSET = 16;
  /** SYSTEM_INFO: dwPageSize u32 @4, dwAllocationGranularity u32 @40; 48 bytes. */
  static final int SYSTEM_INFO_BYTES = 48;
  static final int SYSTEM_INFO_PAGE_SIZE_OFFSET = 4;
  static final int SYSTEM_INFO_GRANULARITY_OFFSET = 40;
  /** MEMORYSTATUSEX: dwLength u32 @0, ullTotalPageFile @24, ullAvailPageFile @32; 64 bytes. */
  static final int MEMORYSTATUSEX_BYTES = 64;
  static final int MEMORYSTATUSEX_TOTAL_PAGE_FILE_OFFSET = 24;
  static final int MEMORYSTATUSEX_AVAIL_PAGE_FILE_OFFSET = 32;
  /** MEMORY_BASIC_INFORMATION (64-bit): RegionSize @24; 48 bytes. */
  static final int MEMORY_BASIC_INFORMATION_BYTES = 48;
  static final int MEMORY_BASIC_INFORMATION_REGION_SIZE_OFFSET = 24;
  /**
   * SYSTEM_TIMEOFDAY_INFORMATION: BootTime i64 @0, CurrentTime @8, TimeZoneBias @16,
   * TimeZoneId u32 @24, Reserved u32 @28, BootTimeBias u64 @32, SleepTimeBias u64 @40;
   * 48 bytes.
   */
  static final int TIME_OF_DAY_BYTES = 48;
  static final int TIME_OF_DAY_BOOT_TIME_OFFSET = 0;
  static final int TIME_OF_DAY_BOOT_TIME_BIAS_OFFSET = 32;

  private WindowsAbi() {}

  /** The high 32 bits of a size or offset, as CreateFileMapping and MapViewOfFile take them. */
  static int high(long value) {
    return (int) (value >>> 32);
  }

  /** The low 32 bits. */
  static int low(long value) {
    return (int) value;
  }

  /**
   * Where a view must start so that {@code [offsetBytes, offsetBytes + lengthBytes)} is
   * inside it: MapViewOfFile needs an offset that is a multiple of the allocation
   * granularity (64 KiB), coarser than the page size the interface promises, so the view
   * starts {@code delta} bytes earlier and the mapping handed out begins {@code delta}
   * bytes into the view.
   */
  record View(long viewOffsetBytes, long viewLengthBytes, long deltaBytes) {}

  static View view(long offsetBytes, long lengthBytes, long granularityBytes) {
    if (offsetBytes < 0 || lengthBytes <= 0 || granularityBytes <= 0) {
      throw new IllegalArgumentException("bad view request: offset " + offsetBytes + ", length " + lengthBytes
          + ", granularity " + granularityBytes);
    }
    long delta = offsetBytes % granularityBytes;
    return new View(offsetBytes - delta, Math.addExact(lengthBytes, delta), delta);
  }

  /** Page size and allocation granularity from a SYSTEM_INFO. */
  record SystemInfo(long pageBytes, long granularityBytes) {}

  static SystemInfo systemInfo(ByteBuffer info) {
    ByteBuffer b = info.duplicate().order(ByteOrder.LITTLE_ENDIAN);
    long page = Integer.toUnsignedLong(b.getInt(SYSTEM_INFO_PAGE_SIZE_OFFSET));
    long granularity = Integer.toUnsignedLong(b.getInt(SYSTEM_INFO_GRANULARITY_OFFSET));
    if (page <= 0 || granularity < page || granularity % page != 0) {
      throw new IllegalArgumentException("implausible SYSTEM_INFO: page " + page + ", granularity " + granularity);
    }
    return new SystemInfo(page, granularity);
  }

  /**
   * What {@link SharedMemoryPlatform#statFs} reports on Windows: the commit limit and the
   * commit still available (MEMORYSTATUSEX ullTotalPageFile and ullAvailPageFile), which
   * is what a SEC_COMMIT section is charged against at creation.
   */
  static FsStat commitFacts(ByteBuffer memoryStatus) {
    ByteBuffer b = memoryStatus.duplicate().order(ByteOrder.LITTLE_ENDIAN);
    long total = unsignedOrMax(b.getLong(MEMORYSTATUSEX_TOTAL_PAGE_FILE_OFFSET));
    long available = unsignedOrMax(b.getLong(MEMORYSTATUSEX_AVAIL_PAGE_FILE_OFFSET));
    return new FsStat(total, Math.min(available, total), Math.min(available, total));
  }

  /**
   * A 16-byte boot id from SYSTEM_TIMEOFDAY_INFORMATION: BootTime minus BootTimeBias. The
   * kernel moves BootTime by every clock change (SetSystemTime) and adds the same amount
   * to BootTimeBias, so the difference is the boot time as first recorded: the same in
   * every process for the whole boot, different after a reboot. The 8 bytes of that
   * FILETIME (little-endian) are followed by the ASCII tag "WinBoot\0".
   */
  static byte[] bootId(ByteBuffer timeOfDay) {
    ByteBuffer b = timeOfDay.duplicate().order(ByteOrder.LITTLE_ENDIAN);
    long boot = b.getLong(TIME_OF_DAY_BOOT_TIME_OFFSET) - b.getLong(TIME_OF_DAY_BOOT_TIME_BIAS_OFFSET);
    if (boot <= 0) {
      throw new IllegalArgumentException("implausible boot time " + boot + " (100 ns units since 1601)");
    }
    ByteBuffer id = ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN);
    id.putLong(boot);
    id.put(new byte[] {'W', 'i', 'n', 'B', 'o', 'o', 't', 0});
    return id.array();
  }

  /**
   * The result of a process-identity query: the creation FILETIME (100 ns units since
   * 1601, absolute, so unique across boots together with the pid), or -1 when the process
   * does not exist or has exited.
   *
   * @param openError 0 when OpenProcess succeeded, else its Win32 error
   * @param exited whether the process object is signalled (the process has exited; its
   *     object lives on while someone holds a handle)
   * @param creationTime the creation FILETIME from GetProcessTimes
   * @throws PlatformException (EACCES) when the process exists but cannot be queried: its
   *     start time is unknown, and guessing either way could free a live manager's memory
   */
  static long startTimeOrAbsent(long pid, int openError, boolean exited, long creationTime) {
    if (openError == WindowsErrors.ERROR_INVALID_PARAMETER) {
      return -1; // no process with this id
    }
    if (openError != 0) {
      throw WindowsErrors.error("OpenProcess", "pid " + pid, openError, openError == WindowsErrors.ERROR_ACCESS_DENIED
          ? "Access is denied: the process exists but belongs to another user or is protected" : null);
    }
    if (exited) {
      return -1;
    }
    if (creationTime <= 0) {
      throw new IllegalArgumentException("implausible creation time " + creationTime + " of pid " + pid);
    }
    return creationTime;
  }

  private static long unsignedOrMax(long value) {
    return value < 0 ? Long.MAX_VALUE : value;
  }
}

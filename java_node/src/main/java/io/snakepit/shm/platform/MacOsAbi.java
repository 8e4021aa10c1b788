package io.snakepit.shm.platform;

import io.snakepit.shm.platform.SharedMemoryPlatform.FsStat;

/**
 * The macOS (Darwin, 64-bit, x86_64 and arm64) ABI facts {@link MacOsPlatform} needs, and
 * pure functions on the bytes the kernel returns, so they are testable on any OS. Sources:
 * the Darwin headers sys/fcntl.h, sys/mman.h, sys/errno.h, sys/stat.h, sys/sysctl.h and
 * xnu's bsd/kern/posix_shm.c.
 */
final class MacOsAbi {
  // sys/fcntl.h
  static final int O_RDONLY = 0x0000;
  static final int O_RDWR = 0x0002;
  static final int O_CREAT = 0x0200;
  static final int O_EXCL = 0x0800;
  // sys/mman.h
  static final int PROT_READ = 0x01;
  static final int PROT_WRITE = 0x02;
  static final int MAP_SHARED = 0x0001;
  // sys/sysctl.h
  static final int CTL_KERN = 1;
  static final int KERN_PROC = 14;
  static final int KERN_PROC_PID = 1;
  /** Bytes for one {@code struct kinfo_proc} (648 on 64-bit), with room to spare. */
  static final int KINFO_PROC_BUFFER_BYTES = 1024;
  /** {@code kp_proc.p_un.__p_starttime} is the first member of {@code struct kinfo_proc}. */
  static final int KINFO_STARTTIME_SEC_OFFSET = 0;
  static final int KINFO_STARTTIME_USEC_OFFSET = 8;

  /**
   * {@code struct stat} with 64-bit inodes (the only layout on arm64; on x86_64 the one
   * behind the {@code fstat$INODE64} symbol): dev i32 @0, mode u16 @4, nlink u16 @6,
   * ino u64 @8, uid u32 @16, gid u32 @20, rdev i32 @24, four timespecs @32..96,
   * size i64 @96, blocks i64 @104 (512-byte units), blksize i32 @112; 144 bytes.
   */
  static final int STAT_BUFFER_BYTES = 256;
  static final int STAT_MODE_OFFSET = 4;
  static final int STAT_UID_OFFSET = 16;
  static final int STAT_SIZE_OFFSET = 96;
  static final int STAT_BLOCKS_OFFSET = 104;
  static final long STAT_BLOCK_UNIT_BYTES = 512;

  // sys/errno.h values that differ from Linux's (1 to 34 are the same on both)
  static final int EINTR = 4;
  static final int EAGAIN = 35;
  static final int ENOTSUP = 45;
  static final int ELOOP = 62;
  static final int ENAMETOOLONG = 63;
  static final int ENOSYS = 78;
  static final int EOPNOTSUPP = 102;
  /** Linux's ENAMETOOLONG, which {@link PlatformException} has no constant for. */
  static final int LINUX_ENAMETOOLONG = 36;
  /** Linux's EIO: the portable number of a macOS errno without a Linux counterpart here. */
  static final int LINUX_EIO = 5;

  private MacOsAbi() {}

  /**
   * The {@code fstat} symbol with the 64-bit-inode layout: {@code fstat$INODE64} on x86_64
   * (plain {@code fstat} there is the old 32-bit-inode layout), {@code fstat} on arm64.
   */
  static String fstatSymbol(boolean intel) {
    return intel ? "fstat$INODE64" : "fstat";
  }

  /**
   * The number {@link PlatformException} carries for a macOS errno: the layers above
   * compare with Linux numbers. 1 to 34 are equal on both systems; the others that matter
   * are translated; any other macOS number that would read as a different Linux constant
   * (38 ENOSYS, 40 ELOOP, 95 EOPNOTSUPP) becomes EIO. The native number stays in the
   * message (see {@link #describe}). ftruncate's ENOMEM on a shm object means the memory
   * object could not be made (xnu maps KERN_NO_SPACE to it): that is "no space", ENOSPC.
   */
  static int portableErrno(String call, int macErrno) {
    if (macErrno == PlatformException.ENOMEM && call.equals("ftruncate")) {
      return PlatformException.ENOSPC;
    }
    if (macErrno >= 1 && macErrno <= 34) {
      return macErrno;
    }
    return switch (macErrno) {
      case ENOTSUP, EOPNOTSUPP -> PlatformException.EOPNOTSUPP;
      case ELOOP -> PlatformException.ELOOP;
      case ENOSYS -> PlatformException.ENOSYS;
      case ENAMETOOLONG -> LINUX_ENAMETOOLONG;
      case EAGAIN -> 11;
      default -> LINUX_EIO;
    };
  }

  /** strerror text with the native number when it was translated, e.g. "Operation not supported (macOS errno 45)". */
  static String describe(String strerror, int macErrno, int portable) {
    return macErrno == portable ? strerror : strerror + " (macOS errno " + macErrno + ")";
  }

  /**
   * The start time of a process from a {@code sysctl(CTL_KERN, KERN_PROC, KERN_PROC_PID)}
   * answer, in microseconds since the epoch (absolute, so unique across boots together with
   * the pid), or -1 when the kernel returned no record (no such process).
   *
   * @param returnedBytes the length sysctl wrote back
   * @param seconds {@code tv_sec} of {@code p_starttime}
   * @param micros {@code tv_usec} of {@code p_starttime}
   * @throws IllegalArgumentException for a short record or impossible time
   */
  static long startMicros(long returnedBytes, long seconds, int micros) {
    if (returnedBytes == 0) {
      return -1;
    }
    if (returnedBytes < KINFO_STARTTIME_USEC_OFFSET + Integer.BYTES) {
      throw new IllegalArgumentException("kinfo_proc record of " + returnedBytes + " bytes is too short");
    }
    if (seconds < 0 || micros < 0 || micros >= 1_000_000) {
      throw new IllegalArgumentException("impossible process start time " + seconds + " s " + micros + " us");
    }
    return Math.multiplyExact(seconds, 1_000_000L) + micros;
  }

  /**
   * What {@link SharedMemoryPlatform#statFs} reports on macOS, where shared memory is
   * anonymous virtual memory rather than a file system: total is the physical memory
   * ({@code hw.memsize}); free is the free and speculative pages; available adds the pages
   * the system can drop without swapping (purgeable and file-backed pageable pages), at
   * most the total. An estimate: the compressor and swap let allocations go further.
   */
  static FsStat memoryFacts(long memsizeBytes, long pageBytes, long freePages, long speculativePages,
      long purgeablePages, long externalPages) {
    if (memsizeBytes <= 0 || pageBytes <= 0) {
      throw new IllegalArgumentException("memory size and page size must be positive, were " + memsizeBytes + " and "
          + pageBytes);
    }
    long free = pagesToBytes(Math.max(freePages, 0) + Math.max(speculativePages, 0), pageBytes);
    long available = pagesToBytes(Math.max(freePages, 0) + Math.max(speculativePages, 0)
        + Math.max(purgeablePages, 0) + Math.max(externalPages, 0), pageBytes);
    return new FsStat(memsizeBytes, Math.min(free, memsizeBytes), Math.min(available, memsizeBytes));
  }

  private static long pagesToBytes(long pages, long pageBytes) {
    try {
      return Math.multiplyExact(pages, pageBytes);
    } catch (ArithmeticException e) {
      return Long.MAX_VALUE;
    }
  }
}

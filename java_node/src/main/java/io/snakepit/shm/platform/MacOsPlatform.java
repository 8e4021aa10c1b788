package io.snakepit.shm.platform;

import static io.snakepit.shm.platform.PlatformArgs.cString;
import static io.snakepit.shm.platform.PlatformArgs.requireNonNegative;

import com.sun.jna.Function;
import com.sun.jna.Library;
import com.sun.jna.Memory;
import com.sun.jna.Native;
import com.sun.jna.NativeLibrary;
import com.sun.jna.Platform;
import com.sun.jna.Pointer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.EnumSet;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * {@link SharedMemoryPlatform} on macOS (x86_64 and arm64): POSIX shared memory through
 * libSystem, by JNA. The native bindings are private to this class and are loaded only
 * when a MacOsPlatform is constructed, which fails at once on any other OS. docs/PLATFORMS.md
 * says what differs from Linux and what has (not) been verified; in short:
 *
 * <ul>
 *   <li>Naming: objects live in the flat, machine-wide POSIX shm namespace as
 *       {@code "/" + fileName} (at most 30 bytes, {@link MacOsShmNames}); the shm dir
 *       argument names nothing and is ignored, and there is no directory to list.
 *   <li>Sizing: {@code ftruncate} works once per object (xnu refuses a second one) and
 *       rounds up to whole pages; {@link #truncate} enforces that with a clear error
 *       ({@link SizeOnce}).
 *   <li>Reservation: there is no posix_fallocate (nor F_PREALLOCATE) for shm objects.
 *       Pages are allocated on first touch from anonymous memory backed by the compressor
 *       and swap; {@link #reserve} only checks that the range lies inside the object.
 *   <li>Zeroing: no hole punching; {@link #punchHole} writes zeros through a mapping.
 *   <li>Locks: xnu's fcntl accepts F_SETLK/F_GETLK only on vnodes and fails with EBADF
 *       on a shm descriptor, so locks are kept in this process ({@link ProcessLocalLocks})
 *       and {@link #isWriteLockedByOthers} fails with EOPNOTSUPP.
 *   <li>Process identity: the start time from {@code sysctl(KERN_PROC_PID)}, in
 *       microseconds since the epoch; boot id: {@code kern.bootsessionuuid}.
 * </ul>
 *
 * <p>Errors: errno is read once with {@link Native#getLastError()} after a failing call and
 * translated to the Linux numbering the layers above compare with
 * ({@link MacOsAbi#portableErrno}); the macOS number stays in the message.
 *
 * <p>Thread-safety: safe to call from any thread; the only state is the name of each open
 * descriptor and the in-process locks, both in thread-safe structures.
 */
public final class MacOsPlatform implements SharedMemoryPlatform {
  private static final int MODE_BITS = 07777;

  private final long pageSizeBytes;
  private final boolean intel;
  private final ProcessLocalLocks locks = new ProcessLocalLocks();
  /** The shm name of every descriptor this platform opened and has not closed. */
  private final Map<Integer, String> namesByFd = new ConcurrentHashMap<>();

  /**
   * Binds libSystem.
   *
   * @throws UnsupportedPlatformException when not on macOS
   */
  public MacOsPlatform() {
    if (!Platform.isMac()) {
      throw new UnsupportedPlatformException("MacOsPlatform runs on macOS only, not on "
          + System.getProperty("os.name"));
    }
    LinuxMapping.requireLittleEndian();
    this.intel = Platform.isIntel();
    int page = Libc.getpagesize();
    if (page <= 0) {
      throw new PlatformException("getpagesize", "page size", PlatformException.EINVAL, "returned " + page);
    }
    this.pageSizeBytes = page;
  }

  /**
   * {@inheritDoc} shm_open(2) with {@code O_RDWR|O_CREAT|O_EXCL}; the descriptor is
   * close-on-exec (xnu sets it for every shm descriptor). xnu stores the mode as given (no
   * umask); it is checked with fstat afterwards, and the object removed if it differs.
   * {@code shmDir} is ignored: the namespace has no directories.
   */
  @Override
  public int createExclusive(Path shmDir, String fileName, int mode) {
    if ((mode & ~MODE_BITS) != 0) {
      throw new IllegalArgumentException("mode " + Integer.toOctalString(mode) + " has bits outside 07777");
    }
    String name = MacOsShmNames.shmName(fileName);
    int fd = shmOpen(name, MacOsAbi.O_RDWR | MacOsAbi.O_CREAT | MacOsAbi.O_EXCL, mode);
    namesByFd.put(fd, name);
    String problem;
    try {
      problem = MacOsShmNames.modeProblem(stat(fd, name).mode(), mode);
    } catch (PlatformException e) {
      discard(fd, name);
      throw e;
    }
    if (problem != null) {
      discard(fd, name);
      throw new PlatformException("shm_open", name, PlatformException.EACCES, problem);
    }
    return fd;
  }

  /** {@inheritDoc} shm_open(2) without O_CREAT; ENOENT when no such object exists. */
  @Override
  public int openExisting(Path shmDir, String fileName, boolean readWrite) {
    String name = MacOsShmNames.shmName(fileName);
    int fd = shmOpen(name, readWrite ? MacOsAbi.O_RDWR : MacOsAbi.O_RDONLY, 0);
    namesByFd.put(fd, name);
    return fd;
  }

  /**
   * {@inheritDoc} Once per object: an unsized object is sized (rounded up to whole pages
   * by the kernel); asking again for the size it has does nothing; any other size fails
   * with EINVAL, as xnu would. A failure to back the object (xnu's KERN_NO_SPACE, ENOMEM)
   * surfaces as ENOSPC ({@link PlatformException#isNoSpace()}).
   */
  @Override
  public void truncate(int fd, long sizeBytes, String name) {
    long current = stat(fd, name).sizeBytes();
    if (!SizeOnce.needsSizing(current, sizeBytes, pageSizeBytes, "macOS", name)) {
      return;
    }
    while (Libc.ftruncate(fd, sizeBytes) != 0) {
      int errno = Native.getLastError();
      if (errno != MacOsAbi.EINTR) {
        throw error("ftruncate", name, errno);
      }
    }
  }

  /**
   * {@inheritDoc} macOS has no way to reserve backing store for a shm object: there is no
   * posix_fallocate, and fcntl F_PREALLOCATE works on files of a file system only. Pages
   * come from anonymous memory on first touch; a system short of memory compresses and
   * swaps instead of failing this call. This method checks that the range lies inside the
   * object (which cannot grow) and does nothing else.
   */
  @Override
  public void reserve(int fd, long offsetBytes, long lengthBytes, String name) {
    requireNonNegative("offsetBytes", offsetBytes);
    requireNonNegative("lengthBytes", lengthBytes);
    if (lengthBytes == 0) {
      return;
    }
    SizeOnce.requireWithin(offsetBytes, lengthBytes, stat(fd, name).sizeBytes(), "reserve", "macOS", name);
  }

  /**
   * {@inheritDoc} No hole punching on macOS: the part of the range inside the object is
   * zeroed through a temporary shared mapping (one memset); its pages stay allocated.
   */
  @Override
  public void punchHole(int fd, long offsetBytes, long lengthBytes, String name) {
    requireNonNegative("offsetBytes", offsetBytes);
    requireNonNegative("lengthBytes", lengthBytes);
    if (lengthBytes == 0) {
      return;
    }
    PlatformArgs.zeroThroughMapping(this, fd, offsetBytes, lengthBytes, stat(fd, name).sizeBytes(), pageSizeBytes,
        name);
  }

  /**
   * {@inheritDoc} mmap(2) MAP_SHARED. xnu refuses a mapping that reaches past the object's
   * (page-rounded) size with EINVAL, and any mapping of an object not sized yet.
   */
  @Override
  public Mapping map(int fd, long offsetBytes, long lengthBytes, boolean writable, String name) {
    PlatformArgs.checkMapRange(offsetBytes, lengthBytes, pageSizeBytes);
    int prot = writable ? MacOsAbi.PROT_READ | MacOsAbi.PROT_WRITE : MacOsAbi.PROT_READ;
    Pointer address = Libc.mmap(null, lengthBytes, prot, MacOsAbi.MAP_SHARED, fd, offsetBytes);
    if (address == null || Pointer.nativeValue(address) == -1L) {
      throw error("mmap", name, Native.getLastError());
    }
    return new LinuxMapping(address, offsetBytes, lengthBytes, writable, name);
  }

  /**
   * {@inheritDoc}
   *
   * @throws IllegalArgumentException for a mapping not made by {@link #map}
   */
  @Override
  public void unmap(Mapping mapping) {
    if (!(mapping instanceof LinuxMapping)) {
      throw new IllegalArgumentException("not a mapping made by MacOsPlatform: " + mapping);
    }
    LinuxMapping m = (LinuxMapping) mapping;
    if (!m.markUnmapped()) {
      return;
    }
    if (Libc.munmap(m.base(), m.lengthBytes()) != 0) {
      throw error("munmap", m.name(), Native.getLastError());
    }
  }

  /**
   * {@inheritDoc} shm_unlink(2): the name goes at once, existing mappings and descriptors
   * stay valid, the memory is freed when the last of them goes.
   */
  @Override
  public void unlink(Path shmDir, String fileName) {
    String name = MacOsShmNames.shmName(fileName);
    if (Libc.shm_unlink(cString(name)) != 0) {
      throw error("shm_unlink", name, Native.getLastError());
    }
  }

  /** {@inheritDoc} Drops this descriptor's in-process locks, then close(2); not retried on EINTR. */
  @Override
  public void close(int fd) {
    namesByFd.remove(fd);
    locks.releaseAll(fd);
    if (Libc.close(fd) != 0) {
      int errno = Native.getLastError();
      if (errno != MacOsAbi.EINTR) {
        throw error("close", "fd " + fd, errno);
      }
    }
  }

  /**
   * {@inheritDoc} For a shm object xnu fills in only the mode (permission bits, no file
   * type), owner and size (page-rounded; 0 until sized); {@code allocatedBytes} is 0.
   */
  @Override
  public FileStat stat(int fd, String name) {
    try (Memory buffer = new Memory(MacOsAbi.STAT_BUFFER_BYTES)) {
      buffer.clear();
      if (Fstat.fstat(intel, fd, buffer) != 0) {
        throw error("fstat", name, Native.getLastError());
      }
      return new FileStat(
          buffer.getLong(MacOsAbi.STAT_SIZE_OFFSET),
          Short.toUnsignedInt(buffer.getShort(MacOsAbi.STAT_MODE_OFFSET)),
          Integer.toUnsignedLong(buffer.getInt(MacOsAbi.STAT_UID_OFFSET)),
          buffer.getLong(MacOsAbi.STAT_BLOCKS_OFFSET) * MacOsAbi.STAT_BLOCK_UNIT_BYTES);
    }
  }

  /**
   * {@inheritDoc} POSIX shm on macOS is anonymous memory, not a file system: {@code dir}
   * is ignored and the answer describes memory ({@link MacOsAbi#memoryFacts}): physical
   * memory, free pages, and pages the system can drop without swapping.
   */
  @Override
  public FsStat statFs(Path dir) {
    long memsize = sysctlLong("hw.memsize", true);
    long page = sysctlLong("hw.pagesize", true);
    return MacOsAbi.memoryFacts(memsize, page,
        sysctlLong("vm.page_free_count", true),
        sysctlLong("vm.page_speculative_count", false),
        sysctlLong("vm.page_purgeable_count", false),
        sysctlLong("vm.page_pageable_external_count", false));
  }

  /**
   * {@inheritDoc} The lock is kept in this process only ({@link ProcessLocalLocks}): it
   * excludes other descriptors of this process, and no other process can lock a shm
   * object on macOS at all (fcntl F_SETLK fails with EBADF on shm descriptors).
   */
  @Override
  public boolean tryLock(int fd, long offsetBytes, long lengthBytes, boolean exclusive, String name) {
    return locks.tryLock(lockKey(fd), fd, offsetBytes, lengthBytes, exclusive);
  }

  /** {@inheritDoc} Releases an in-process lock. */
  @Override
  public void unlock(int fd, long offsetBytes, long lengthBytes, String name) {
    locks.unlock(lockKey(fd), fd, offsetBytes, lengthBytes);
  }

  /**
   * Not available on macOS: whether another process holds a lock cannot be known, so this
   * fails rather than answer "no" (which would let a stale sweep reclaim a segment being
   * created).
   *
   * @throws PlatformException always, with EOPNOTSUPP
   */
  @Override
  public boolean isWriteLockedByOthers(int fd, long offsetBytes, long lengthBytes, String name) {
    throw new PlatformException("fcntl(F_GETLK)", name, PlatformException.EOPNOTSUPP, "macOS cannot lock POSIX"
        + " shared memory (fcntl on a shm descriptor fails with EBADF), so another process's lock cannot be seen");
  }

  /** {@inheritDoc} getpagesize(3), read once at construction (16384 on Apple silicon, 4096 on Intel). */
  @Override
  public long pageSizeBytes() {
    return pageSizeBytes;
  }

  @Override
  public long currentPid() {
    return Libc.getpid();
  }

  /**
   * {@inheritDoc} On macOS the value is the process's start time in microseconds since
   * the epoch ({@code p_starttime} of {@code sysctl(CTL_KERN, KERN_PROC, KERN_PROC_PID)}),
   * not clock ticks since boot; it is only ever compared for equality. Any user's process
   * can be queried.
   */
  @Override
  public long processStartTicks(long pid) {
    if (pid <= 0 || pid > Integer.MAX_VALUE) {
      return -1;
    }
    int[] mib = {MacOsAbi.CTL_KERN, MacOsAbi.KERN_PROC, MacOsAbi.KERN_PROC_PID, (int) pid};
    try (Memory buffer = new Memory(MacOsAbi.KINFO_PROC_BUFFER_BYTES); Memory length = new Memory(Long.BYTES)) {
      buffer.clear();
      length.setLong(0, MacOsAbi.KINFO_PROC_BUFFER_BYTES);
      if (Libc.sysctl(mib, mib.length, buffer, length, null, 0) != 0) {
        int errno = Native.getLastError();
        if (errno == PlatformException.ESRCH) {
          return -1;
        }
        throw error("sysctl(KERN_PROC_PID)", "pid " + pid, errno);
      }
      return MacOsAbi.startMicros(length.getLong(0), buffer.getLong(MacOsAbi.KINFO_STARTTIME_SEC_OFFSET),
          buffer.getInt(MacOsAbi.KINFO_STARTTIME_USEC_OFFSET));
    }
  }

  /**
   * {@inheritDoc} The 16 bytes of {@code kern.bootsessionuuid}, a UUID the kernel makes
   * once per boot. Not {@code kern.boottime}: xnu moves that by every change of the clock
   * ({@code clock_set_calendar_microtime}), which would make a live manager look like one
   * of an earlier boot.
   */
  @Override
  public byte[] bootId() {
    String uuid = sysctlString("kern.bootsessionuuid");
    try {
      return LinuxProcFiles.bootIdBytes(uuid);
    } catch (IllegalArgumentException e) {
      throw new PlatformException("sysctl", "kern.bootsessionuuid", PlatformException.EINVAL, e.getMessage());
    }
  }

  @Override
  public OsFamily family() {
    return OsFamily.MACOS;
  }

  @Override
  public Set<PlatformFeature> features() {
    return OsFamily.MACOS.features();
  }

  @Override
  public String toString() {
    return "MacOsPlatform[" + (intel ? "x86_64" : "arm64") + ", page " + pageSizeBytes + " bytes]";
  }

  private int shmOpen(String name, int flags, int mode) {
    while (true) {
      int fd = ShmOpen.LIB.shm_open(name, flags, mode);
      if (fd >= 0) {
        return fd;
      }
      int errno = Native.getLastError();
      if (errno != MacOsAbi.EINTR) {
        throw error("shm_open", name, errno);
      }
    }
  }

  /** Closes and unlinks an object this platform just created, ignoring errors. */
  private void discard(int fd, String name) {
    namesByFd.remove(fd);
    Libc.close(fd);
    Libc.shm_unlink(cString(name));
  }

  private String lockKey(int fd) {
    String name = namesByFd.get(fd);
    return name != null ? name : "fd " + fd;
  }

  /** A numeric sysctl by name (4 or 8 bytes); 0 when {@code required} is false and the name is unknown. */
  private static long sysctlLong(String name, boolean required) {
    try (Memory value = new Memory(Long.BYTES); Memory length = new Memory(Long.BYTES)) {
      value.clear();
      length.setLong(0, Long.BYTES);
      if (Libc.sysctlbyname(cString(name), value, length, null, 0) != 0) {
        int errno = Native.getLastError();
        if (!required && errno == PlatformException.ENOENT) {
          return 0;
        }
        throw error("sysctlbyname", name, errno);
      }
      long written = length.getLong(0);
      return written == Integer.BYTES ? Integer.toUnsignedLong(value.getInt(0)) : value.getLong(0);
    }
  }

  private static String sysctlString(String name) {
    try (Memory value = new Memory(64); Memory length = new Memory(Long.BYTES)) {
      value.clear();
      length.setLong(0, value.size() - 1);
      if (Libc.sysctlbyname(cString(name), value, length, null, 0) != 0) {
        throw error("sysctlbyname", name, Native.getLastError());
      }
      return value.getString(0, StandardCharsets.US_ASCII.name());
    }
  }


  private static PlatformException error(String call, String name, int macErrno) {
    int portable = MacOsAbi.portableErrno(call, macErrno);
    return new PlatformException(call, name, portable, MacOsAbi.describe(strerror(macErrno), macErrno, portable));
  }

  private static String strerror(int errno) {
    Pointer text = Libc.strerror(errno);
    return text == null ? "errno " + errno : text.getString(0);
  }

  /**
   * libSystem by JNA direct mapping; every function reports failure through its return
   * value and errno. {@code off_t}, {@code size_t} and {@code long} are 64-bit.
   */
  private static final class Libc {
    static {
      Native.register(Libc.class, NativeLibrary.getInstance(Platform.C_LIBRARY_NAME));
    }

    private Libc() {}

    static native int ftruncate(int fd, long length);

    static native Pointer mmap(Pointer address, long length, int prot, int flags, int fd, long offset);

    static native int munmap(Pointer address, long length);

    static native int shm_unlink(byte[] name);

    static native int close(int fd);

    static native int getpid();

    static native int getpagesize();

    static native Pointer strerror(int errno);

    static native int sysctl(int[] name, int nameLength, Pointer oldValue, Pointer oldLength, Pointer newValue,
        long newLength);

    static native int sysctlbyname(byte[] name, Pointer oldValue, Pointer oldLength, Pointer newValue,
        long newLength);
  }

  /**
   * shm_open is variadic ({@code int shm_open(const char *, int, ...)}), and on arm64
   * macOS variadic arguments travel on the stack, not in registers: a direct mapping with a
   * fixed third argument would pass the mode where the kernel does not look. JNA's
   * interface mapping with a Java varargs method calls it as variadic (2 fixed arguments).
   */
  private interface ShmOpen extends Library {
    int shm_open(String name, int oflag, Object... mode);

    /** Loaded on first use only. */
    ShmOpen LIB = Native.load(Platform.C_LIBRARY_NAME, ShmOpen.class);
  }

  /** fstat with the 64-bit-inode {@code struct stat} ({@link MacOsAbi#fstatSymbol}); looked up once. */
  private static final class Fstat {
    private static final NativeLibrary LIBC = NativeLibrary.getInstance(Platform.C_LIBRARY_NAME);
    private static volatile Function function;

    private Fstat() {}

    static int fstat(boolean intel, int fd, Pointer buffer) {
      Function f = function;
      if (f == null) {
        f = LIBC.getFunction(MacOsAbi.fstatSymbol(intel));
        function = f;
      }
      return f.invokeInt(new Object[] {fd, buffer});
    }
  }
}

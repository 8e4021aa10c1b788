package io.snakepit.shm.platform;

import static io.snakepit.shm.platform.PlatformArgs.cString;
import static io.snakepit.shm.platform.PlatformArgs.requireNonNegative;

import com.sun.jna.Function;
import com.sun.jna.Memory;
import com.sun.jna.Native;
import com.sun.jna.NativeLibrary;
import com.sun.jna.Platform;
import com.sun.jna.Pointer;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;

/**
 * {@link SharedMemoryPlatform} on Linux (glibc or musl, x86_64 or aarch64), calling libc
 * through JNA direct mapping. The native bindings are private to this class.
 *
 * <p>Errors: after a failing call errno is read once with {@link Native#getLastError()}
 * (JNA captures it right after the native call, per thread) and turned into a
 * {@link PlatformException} with libc's strerror text. posix_fallocate returns its error
 * number instead of setting errno. Calls interrupted by a signal (EINTR) are retried,
 * except close, which on Linux always releases the descriptor.
 *
 * <p>Argument errors that are programming mistakes (a negative size, a file name with a
 * '/', an unaligned map offset) throw {@link IllegalArgumentException} before any call.
 *
 * <p>Thread-safety: stateless; safe to call from any thread.
 */
public final class LinuxPlatform implements SharedMemoryPlatform {
  // open(2) flags common to x86_64 and aarch64 (O_NOFOLLOW differs, see LinuxArch).
  private static final int O_RDONLY = 0;
  private static final int O_RDWR = 02;
  private static final int O_CREAT = 0100;
  private static final int O_EXCL = 0200;
  private static final int O_CLOEXEC = 02000000;
  // mmap(2)
  private static final int PROT_READ = 0x1;
  private static final int PROT_WRITE = 0x2;
  private static final int MAP_SHARED = 0x01;
  private static final long MAP_FAILED = -1L;
  // fallocate(2)
  private static final int FALLOC_FL_KEEP_SIZE = 0x01;
  private static final int FALLOC_FL_PUNCH_HOLE = 0x02;
  // sysconf(3)
  private static final int SC_PAGESIZE = 30;
  private static final int EINTR = 4;
  private static final int EIO = 5;
  private static final int MODE_BITS = 07777;
  // struct statvfs on 64-bit Linux: 11 unsigned longs, then int __f_spare[6].
  private static final int STATVFS_BUFFER_BYTES = 256;
  private static final int STATVFS_FRSIZE_OFFSET = 8;
  private static final int STATVFS_BLOCKS_OFFSET = 16;
  private static final int STATVFS_BFREE_OFFSET = 24;
  private static final int STATVFS_BAVAIL_OFFSET = 32;

  private static final Path PROC = Path.of("/proc");
  private static final Path BOOT_ID = Path.of("/proc/sys/kernel/random/boot_id");

  private final LinuxArch arch;
  private final long pageSizeBytes;

  /**
   * Binds libc.
   *
   * @throws UnsupportedOperationException when not on little-endian Linux x86_64/aarch64
   */
  public LinuxPlatform() {
    if (!Platform.isLinux()) {
      throw new UnsupportedOperationException("LinuxPlatform runs on Linux only, not on "
          + System.getProperty("os.name"));
    }
    LinuxMapping.requireLittleEndian();
    this.arch = LinuxArch.current();
    long page = Libc.sysconf(SC_PAGESIZE);
    if (page <= 0) {
      throw error("sysconf", "_SC_PAGESIZE", Native.getLastError());
    }
    this.pageSizeBytes = page;
  }

  /**
   * {@inheritDoc} The mode is applied exactly (fchmod(2) after the create), whatever the
   * process umask. Links:
   * <a href="https://man7.org/linux/man-pages/man2/open.2.html">open(2)</a>.
   */
  @Override
  public int createExclusive(Path shmDir, String fileName, int mode) {
    if ((mode & ~MODE_BITS) != 0) {
      throw new IllegalArgumentException("mode " + Integer.toOctalString(mode) + " has bits outside 07777");
    }
    String path = pathOf(shmDir, fileName);
    int fd = Libc.open(cString(path), O_RDWR | O_CREAT | O_EXCL | arch.oNoFollow | O_CLOEXEC, mode);
    if (fd < 0) {
      throw error("open", path, Native.getLastError());
    }
    if (Libc.fchmod(fd, mode) != 0) {
      PlatformException e = error("fchmod", path, Native.getLastError());
      Libc.close(fd);
      Libc.unlink(cString(path));
      throw e;
    }
    return fd;
  }

  /** <a href="https://man7.org/linux/man-pages/man2/open.2.html">open(2)</a>. */
  @Override
  public int openExisting(Path shmDir, String fileName, boolean readWrite) {
    String path = pathOf(shmDir, fileName);
    int flags = (readWrite ? O_RDWR : O_RDONLY) | arch.oNoFollow | O_CLOEXEC;
    int fd = Libc.open(cString(path), flags, 0);
    if (fd < 0) {
      throw error("open", path, Native.getLastError());
    }
    return fd;
  }

  /** <a href="https://man7.org/linux/man-pages/man2/ftruncate.2.html">ftruncate(2)</a>. */
  @Override
  public void truncate(int fd, long sizeBytes, String name) {
    requireNonNegative("sizeBytes", sizeBytes);
    while (Libc.ftruncate(fd, sizeBytes) != 0) {
      int errno = Native.getLastError();
      if (errno != EINTR) {
        throw error("ftruncate", name, errno);
      }
    }
  }

  /**
   * {@inheritDoc} A range reaching past the end of the file grows the file. An empty
   * range does nothing. Links:
   * <a href="https://man7.org/linux/man-pages/man3/posix_fallocate.3.html">posix_fallocate(3)</a>.
   */
  @Override
  public void reserve(int fd, long offsetBytes, long lengthBytes, String name) {
    requireNonNegative("offsetBytes", offsetBytes);
    requireNonNegative("lengthBytes", lengthBytes);
    if (lengthBytes == 0) {
      return;
    }
    int errno;
    do {
      errno = Libc.posix_fallocate(fd, offsetBytes, lengthBytes); // returns the error, errno untouched
    } while (errno == EINTR);
    if (errno != 0) {
      throw error("posix_fallocate", name, errno);
    }
  }

  /**
   * {@inheritDoc} When the file system cannot punch holes (EOPNOTSUPP, or ENOSYS on an old
   * kernel) the part of the range inside the file is zeroed through a temporary mapping.
   * An empty range does nothing. Links:
   * <a href="https://man7.org/linux/man-pages/man2/fallocate.2.html">fallocate(2)</a>.
   */
  @Override
  public void punchHole(int fd, long offsetBytes, long lengthBytes, String name) {
    requireNonNegative("offsetBytes", offsetBytes);
    requireNonNegative("lengthBytes", lengthBytes);
    if (lengthBytes == 0) {
      return;
    }
    while (Libc.fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, offsetBytes, lengthBytes) != 0) {
      int errno = Native.getLastError();
      if (errno == PlatformException.EOPNOTSUPP || errno == PlatformException.ENOSYS) {
        zeroThroughMapping(fd, offsetBytes, lengthBytes, name);
        return;
      }
      if (errno != EINTR) {
        throw error("fallocate", name, errno);
      }
    }
  }

  /**
   * Writes zeros over the part of {@code [offsetBytes, offsetBytes + lengthBytes)} that lies
   * inside the file, through a temporary shared mapping: the fallback of
   * {@link #punchHole}. Pages stay allocated.
   */
  void zeroThroughMapping(int fd, long offsetBytes, long lengthBytes, String name) {
    PlatformArgs.zeroThroughMapping(this, fd, offsetBytes, lengthBytes, stat(fd, name).sizeBytes(), pageSizeBytes,
        name);
  }

  /**
   * {@inheritDoc} {@code offsetBytes} must be a multiple of {@link #pageSizeBytes()};
   * {@code lengthBytes} need not be. Mapping or touching pages beyond the end of the file
   * is the caller's concern (SIGBUS on touch). ENOMEM surfaces with
   * {@link PlatformException#isNoMemory()}. Links:
   * <a href="https://man7.org/linux/man-pages/man2/mmap.2.html">mmap(2)</a>.
   */
  @Override
  public Mapping map(int fd, long offsetBytes, long lengthBytes, boolean writable, String name) {
    PlatformArgs.checkMapRange(offsetBytes, lengthBytes, pageSizeBytes);
    int prot = writable ? PROT_READ | PROT_WRITE : PROT_READ;
    Pointer address = Libc.mmap(null, lengthBytes, prot, MAP_SHARED, fd, offsetBytes);
    if (address == null || Pointer.nativeValue(address) == MAP_FAILED) {
      throw error("mmap", name, Native.getLastError());
    }
    return new LinuxMapping(address, offsetBytes, lengthBytes, writable, name);
  }

  /**
   * {@inheritDoc}
   *
   * @throws IllegalArgumentException for a mapping not made by a LinuxPlatform
   * @see <a href="https://man7.org/linux/man-pages/man2/munmap.2.html">munmap(2)</a>
   */
  @Override
  public void unmap(Mapping mapping) {
    if (!(mapping instanceof LinuxMapping)) {
      throw new IllegalArgumentException("not a mapping made by LinuxPlatform: " + mapping);
    }
    LinuxMapping linuxMapping = (LinuxMapping) mapping;
    if (!linuxMapping.markUnmapped()) {
      return;
    }
    if (Libc.munmap(linuxMapping.base(), linuxMapping.lengthBytes()) != 0) {
      throw error("munmap", linuxMapping.name(), Native.getLastError());
    }
  }

  /** <a href="https://man7.org/linux/man-pages/man2/unlink.2.html">unlink(2)</a>. */
  @Override
  public void unlink(Path shmDir, String fileName) {
    String path = pathOf(shmDir, fileName);
    if (Libc.unlink(cString(path)) != 0) {
      throw error("unlink", path, Native.getLastError());
    }
  }

  /**
   * {@inheritDoc} Not retried on EINTR: Linux releases the descriptor even then, and a
   * retry could close a descriptor another thread just opened. Links:
   * <a href="https://man7.org/linux/man-pages/man2/close.2.html">close(2)</a>.
   */
  @Override
  public void close(int fd) {
    if (Libc.close(fd) != 0) {
      int errno = Native.getLastError();
      if (errno != EINTR) {
        throw error("close", "fd " + fd, errno);
      }
    }
  }

  /**
   * {@inheritDoc} {@code mode} is the whole {@code st_mode} (file type and permission
   * bits); {@code allocatedBytes} is {@code st_blocks * 512}. Links:
   * <a href="https://man7.org/linux/man-pages/man2/fstat.2.html">fstat(2)</a>.
   */
  @Override
  public FileStat stat(int fd, String name) {
    return stat(fd, name, !Fstat.hasFstat());
  }

  /**
   * fstat through {@code fstat} or, when {@code viaFxstat}, through {@code __fxstat}, the
   * entry point of glibc before 2.33 (kept by newer glibc for old binaries, so a test
   * can exercise it).
   */
  FileStat stat(int fd, String name, boolean viaFxstat) {
    try (Memory buffer = new Memory(LinuxArch.STAT_BUFFER_BYTES)) {
      buffer.clear();
      int result = viaFxstat ? Fstat.fxstat(arch.fxstatVersion, fd, buffer) : Fstat.fstat(fd, buffer);
      if (result != 0) {
        throw error("fstat", name, Native.getLastError());
      }
      return new FileStat(
          buffer.getLong(LinuxArch.STAT_SIZE_OFFSET),
          buffer.getInt(arch.statModeOffset),
          Integer.toUnsignedLong(buffer.getInt(arch.statUidOffset)),
          buffer.getLong(LinuxArch.STAT_BLOCKS_OFFSET) * LinuxArch.STAT_BLOCK_UNIT_BYTES);
    }
  }

  /** <a href="https://man7.org/linux/man-pages/man3/statvfs.3.html">statvfs(3)</a>. */
  @Override
  public FsStat statFs(Path dir) {
    String path = dir.toString();
    try (Memory buffer = new Memory(STATVFS_BUFFER_BYTES)) {
      buffer.clear();
      if (Libc.statvfs(cString(path), buffer) != 0) {
        throw error("statvfs", path, Native.getLastError());
      }
      long fragmentBytes = buffer.getLong(STATVFS_FRSIZE_OFFSET);
      return new FsStat(
          bytes(buffer.getLong(STATVFS_BLOCKS_OFFSET), fragmentBytes),
          bytes(buffer.getLong(STATVFS_BFREE_OFFSET), fragmentBytes),
          bytes(buffer.getLong(STATVFS_BAVAIL_OFFSET), fragmentBytes));
    }
  }

  /**
   * {@inheritDoc} Read once at construction. Links:
   * <a href="https://man7.org/linux/man-pages/man3/sysconf.3.html">sysconf(3)</a>
   * {@code _SC_PAGESIZE}.
   */
  @Override
  public long pageSizeBytes() {
    return pageSizeBytes;
  }

  /** <a href="https://man7.org/linux/man-pages/man2/getpid.2.html">getpid(2)</a>. */
  @Override
  public long currentPid() {
    return Libc.getpid();
  }

  /**
   * {@inheritDoc} A process that exits while its stat file is being read also yields -1.
   * Links: <a href="https://man7.org/linux/man-pages/man5/proc_pid_stat.5.html">proc_pid_stat(5)</a>.
   */
  @Override
  public long processStartTicks(long pid) {
    if (pid <= 0) {
      return -1;
    }
    Path statFile = PROC.resolve(Long.toString(pid)).resolve("stat");
    String line;
    try {
      line = Files.readString(statFile, StandardCharsets.ISO_8859_1);
    } catch (NoSuchFileException e) {
      return -1;
    } catch (IOException e) {
      if (!Files.exists(statFile.getParent())) {
        return -1; // exited between open and read (ESRCH)
      }
      throw new PlatformException("read", statFile.toString(), EIO, String.valueOf(e.getMessage()));
    }
    return LinuxProcFiles.startTicksFromStat(line);
  }

  /**
   * {@inheritDoc} Links:
   * <a href="https://man7.org/linux/man-pages/man4/random.4.html">random(4)</a>
   * ({@code /proc/sys/kernel/random/boot_id}).
   */
  @Override
  public byte[] bootId() {
    try {
      return LinuxProcFiles.bootIdBytes(Files.readString(BOOT_ID, StandardCharsets.US_ASCII));
    } catch (NoSuchFileException e) {
      throw new PlatformException("read", BOOT_ID.toString(), PlatformException.ENOENT, strerror(PlatformException.ENOENT));
    } catch (IOException e) {
      throw new PlatformException("read", BOOT_ID.toString(), EIO, String.valueOf(e.getMessage()));
    }
  }

  @Override
  public String toString() {
    return "LinuxPlatform[" + arch + ", page " + pageSizeBytes + " bytes]";
  }

  private static String pathOf(Path shmDir, String fileName) {
    if (fileName.isEmpty() || fileName.equals(".") || fileName.equals("..")
        || fileName.indexOf('/') >= 0 || fileName.indexOf('\0') >= 0) {
      throw new IllegalArgumentException("file name must be one path component, was '" + fileName + "'");
    }
    return shmDir.resolve(fileName).toString();
  }


  /** blocks * fragment size, saturating instead of overflowing. */
  private static long bytes(long blocks, long fragmentBytes) {
    if (blocks < 0 || fragmentBytes < 0) {
      return Long.MAX_VALUE; // unsigned values beyond 2^63: unlimited for our purposes
    }
    try {
      return Math.multiplyExact(blocks, fragmentBytes);
    } catch (ArithmeticException e) {
      return Long.MAX_VALUE;
    }
  }

  private static final int F_OFD_GETLK = 36;
  private static final int F_OFD_SETLK = 37;
  private static final short F_RDLCK = 0;
  private static final short F_WRLCK = 1;
  private static final short F_UNLCK = 2;
  private static final int EAGAIN = 11;
  /** struct flock on 64-bit glibc (x86_64 and aarch64): type, whence, pad, start, len, pid, pad. */
  private static final int FLOCK_BYTES = 32;

  private static com.sun.jna.Memory flock(short type, long offset, long length) {
    com.sun.jna.Memory f = new com.sun.jna.Memory(FLOCK_BYTES);
    f.clear();
    f.setShort(0, type);
    f.setShort(2, (short) 0); // SEEK_SET
    f.setLong(8, offset);
    f.setLong(16, length);
    f.setInt(24, 0); // l_pid must be 0 for OFD locks
    return f;
  }

  /** See fcntl(2), "Open file description locks". */
  @Override
  public boolean tryLock(int fd, long offsetBytes, long lengthBytes, boolean exclusive, String name) {
    if (Libc.fcntl(fd, F_OFD_SETLK, flock(exclusive ? F_WRLCK : F_RDLCK, offsetBytes, lengthBytes)) == 0) {
      return true;
    }
    int errno = Native.getLastError();
    if (errno == EAGAIN || errno == PlatformException.EACCES) {
      return false;
    }
    throw error("fcntl(F_OFD_SETLK)", name, errno);
  }

  /** See fcntl(2). */
  @Override
  public void unlock(int fd, long offsetBytes, long lengthBytes, String name) {
    if (Libc.fcntl(fd, F_OFD_SETLK, flock(F_UNLCK, offsetBytes, lengthBytes)) != 0) {
      throw error("fcntl(F_OFD_SETLK)", name, Native.getLastError());
    }
  }

  /** See fcntl(2), F_OFD_GETLK. */
  @Override
  public boolean isWriteLockedByOthers(int fd, long offsetBytes, long lengthBytes, String name) {
    // a read lock conflicts only with write locks, so the probe answers exactly that
    com.sun.jna.Memory f = flock(F_RDLCK, offsetBytes, lengthBytes);
    if (Libc.fcntl(fd, F_OFD_GETLK, f) != 0) {
      throw error("fcntl(F_OFD_GETLK)", name, Native.getLastError());
    }
    return f.getShort(0) == F_WRLCK;
  }

  private static PlatformException error(String call, String name, int errno) {
    return new PlatformException(call, name, errno, strerror(errno));
  }

  /** <a href="https://man7.org/linux/man-pages/man3/strerror.3.html">strerror(3)</a>. */
  private static String strerror(int errno) {
    Pointer text = Libc.strerror(errno);
    return text == null ? "errno " + errno : text.getString(0);
  }

  /**
   * libc by JNA direct mapping. Every function reports failure through its return value;
   * errno is read afterwards with {@link Native#getLastError()}. {@code off_t},
   * {@code size_t} and {@code long} are 64-bit on every supported target, hence Java long.
   */
  private static final class Libc {
    static {
      Native.register(Libc.class, NativeLibrary.getInstance(Platform.C_LIBRARY_NAME));
    }

    private Libc() {}

    /** open is variadic; on x86_64 and aarch64 Linux a variadic int travels like a fixed one. */
    static native int open(byte[] path, int flags, int mode);

    static native int fchmod(int fd, int mode);

    static native int ftruncate(int fd, long length);

    static native int posix_fallocate(int fd, long offset, long length);

    static native int fallocate(int fd, int mode, long offset, long length);

    static native Pointer mmap(Pointer address, long length, int prot, int flags, int fd, long offset);

    static native int munmap(Pointer address, long length);

    static native int unlink(byte[] path);

    static native int close(int fd);

    static native int fcntl(int fd, int cmd, Pointer flock);

    static native int statvfs(byte[] path, Pointer buffer);

    static native long sysconf(int name);

    static native int getpid();

    static native Pointer strerror(int errno);
  }

  /**
   * fstat, which glibc exports as a symbol only from 2.33 on; older glibc exports
   * {@code __fxstat(version, fd, buf)} instead (fstat was an inline wrapper in
   * libc_nonshared.a), musl only fstat. Looked up once; both set errno.
   */
  private static final class Fstat {
    private static final Function FSTAT = find("fstat");
    private static final Function FXSTAT = find("__fxstat");

    private Fstat() {}

    private static Function find(String symbol) {
      try {
        return NativeLibrary.getInstance(Platform.C_LIBRARY_NAME).getFunction(symbol);
      } catch (UnsatisfiedLinkError missing) {
        return null;
      }
    }

    static boolean hasFstat() {
      return FSTAT != null;
    }

    static int fstat(int fd, Pointer buffer) {
      return FSTAT.invokeInt(new Object[] {fd, buffer});
    }

    static int fxstat(int version, int fd, Pointer buffer) {
      if (FXSTAT == null) {
        throw new UnsupportedOperationException("libc exports neither fstat nor __fxstat");
      }
      return FXSTAT.invokeInt(new Object[] {version, fd, buffer});
    }
  }
}

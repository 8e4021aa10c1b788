package io.snakepit.shm.platform;

import java.nio.file.Path;
import java.util.Set;

/**
 * The operating-system calls snakepit-shm needs, behind a plain Java interface so that
 * the raw native bindings (JNA) stay private to each implementation. Linux is
 * {@link LinuxPlatform}, macOS {@link MacOsPlatform}, Windows {@link WindowsPlatform};
 * {@link Platforms#forCurrentOs()} picks one. The contract below is Linux's; where macOS
 * or Windows cannot honour part of it, {@link #features()} says so and the implementation
 * documents what it does instead (docs/PLATFORMS.md).
 *
 * <p>Every failing call throws {@link PlatformException} carrying the call, the segment
 * name, errno and strerror. No method returns an error code.
 *
 * <p>Thread-safety: implementations are stateless and safe to call from any thread.
 * File descriptors and {@link Mapping}s returned are owned by the caller, who must
 * close/unmap them exactly once.
 */
public interface SharedMemoryPlatform {

  /**
   * Creates a new file {@code fileName} in {@code shmDir} with
   * {@code O_RDWR|O_CREAT|O_EXCL|O_NOFOLLOW|O_CLOEXEC} and the given mode (0600 for
   * segments). Fails with EEXIST when it exists. See open(2).
   *
   * @return an open file descriptor
   */
  int createExclusive(Path shmDir, String fileName, int mode);

  /** Opens an existing file with {@code O_NOFOLLOW|O_CLOEXEC}, read-write or read-only. See open(2). */
  int openExisting(Path shmDir, String fileName, boolean readWrite);

  /** Sets the file size in bytes. See ftruncate(2). */
  void truncate(int fd, long sizeBytes, String name);

  /**
   * Reserves backing store for {@code [offsetBytes, offsetBytes + lengthBytes)} so a later
   * touch cannot SIGBUS on a full tmpfs. ENOSPC surfaces as a PlatformException whose
   * {@link PlatformException#isNoSpace()} is true. See posix_fallocate(3).
   */
  void reserve(int fd, long offsetBytes, long lengthBytes, String name);

  /**
   * Gives the pages of a range back to the file system and makes it read as zeros,
   * keeping the file size (fallocate(2) FALLOC_FL_PUNCH_HOLE|FALLOC_FL_KEEP_SIZE).
   * Implementations without hole punching zero the bytes through a mapping instead.
   */
  void punchHole(int fd, long offsetBytes, long lengthBytes, String name);

  /** Maps {@code lengthBytes} from {@code offsetBytes} (page aligned) shared. See mmap(2). */
  Mapping map(int fd, long offsetBytes, long lengthBytes, boolean writable, String name);

  /** Unmaps a mapping made by {@link #map}. Idempotent. See munmap(2). */
  void unmap(Mapping mapping);

  /** Removes the file {@code fileName} from {@code shmDir}. See unlink(2). */
  void unlink(Path shmDir, String fileName);

  /** Closes a descriptor. See close(2). */
  void close(int fd);

  /** File facts of an open descriptor. See fstat(2). */
  FileStat stat(int fd, String name);

  /** File-system facts of the directory holding segments. See statvfs(3). */
  FsStat statFs(Path dir);

  /**
   * Tries to take an open-file-description lock (fcntl(2) F_OFD_SETLK) on
   * {@code [offsetBytes, offsetBytes + lengthBytes)}: exclusive (write) or shared (read).
   * Returns false at once when another open file description holds a conflicting lock.
   * The kernel drops the lock when the descriptor's last reference closes, so a lock
   * never outlives its process.
   */
  boolean tryLock(int fd, long offsetBytes, long lengthBytes, boolean exclusive, String name);

  /** Releases a lock taken with {@link #tryLock} (F_OFD_SETLK with F_UNLCK). */
  void unlock(int fd, long offsetBytes, long lengthBytes, String name);

  /** True when some other open file description holds a write lock on the range (F_OFD_GETLK). */
  boolean isWriteLockedByOthers(int fd, long offsetBytes, long lengthBytes, String name);

  /** The OS page size in bytes. */
  long pageSizeBytes();

  /** This process's id. */
  long currentPid();

  /**
   * The start time of process {@code pid} in clock ticks since boot (Linux: field 22 of
   * /proc/PID/stat), or -1 when no such process exists. Together with the pid it names a
   * process uniquely across pid reuse. macOS and Windows return the absolute start time in
   * their own units instead; the value is only ever compared for equality.
   */
  long processStartTicks(long pid);

  /** An identifier of the current boot (Linux: /proc/sys/kernel/random/boot_id), 16 bytes. */
  byte[] bootId();

  /**
   * The operating system this platform is for; the layers above word their messages by it
   * ({@link PlatformText}). The default is Linux.
   */
  default OsFamily family() {
    return OsFamily.LINUX;
  }

  /**
   * What this platform can do ({@link PlatformFeature}). The default is its
   * {@link #family()}'s: every feature on Linux; macOS and Windows return less.
   */
  default Set<PlatformFeature> features() {
    return family().features();
  }

  /** Facts from fstat(2). */
  record FileStat(long sizeBytes, int mode, long ownerUid, long allocatedBytes) {}

  /** Facts from statvfs(3); bytes, already multiplied by the fragment size. */
  record FsStat(long totalBytes, long freeBytes, long availableBytes) {}
}

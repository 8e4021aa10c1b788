package io.snakepit.shm.segment;

import io.snakepit.shm.platform.Mapping;
import io.snakepit.shm.platform.PlatformException;
import io.snakepit.shm.platform.SharedMemoryPlatform;
import java.nio.file.Path;

/**
 * Creates, reserves, zeroes and destroys segment files in one shm dir. Creation is
 * exclusive ({@code O_CREAT|O_EXCL|O_NOFOLLOW}, mode 0600), the header is written and
 * published before the segment is handed out, and every failure on the way unlinks what
 * was made, so no half-made segment stays behind.
 *
 * <p>Thread-safety: none; owned by the registry's owner thread. Errors are
 * {@link PlatformException}s.
 */
public final class SegmentStore {
  private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(SegmentStore.class);
  /**
   * The byte a creator locks (OFD write lock) from creating a segment file until its
   * header is published: byte 0, which no region lock uses.
   */
  public static final long CREATION_LOCK_OFFSET = 0;
  /** Mode of every segment file: owner read/write only. */
  public static final int SEGMENT_MODE = 0600;
  private static final int NAME_ATTEMPTS = 8;

  private final SharedMemoryPlatform platform;
  private final Path shmDir;
  private final ManagerInstance owner;
  private final SegmentNames names = new SegmentNames();
  private final long fsPageBytes;
  private final boolean hugetlbfs;
  private OperationTimer timer = OperationTimer.NONE;

  public SegmentStore(SharedMemoryPlatform platform, Path shmDir, ManagerInstance owner) {
    this.platform = platform;
    this.shmDir = shmDir;
    this.owner = owner;
    String type = "";
    long block = 0;
    try {
      java.nio.file.FileStore fs = java.nio.file.Files.getFileStore(shmDir);
      type = fs.type();
      block = fs.getBlockSize();
    } catch (java.io.IOException | UnsupportedOperationException e) {
      // an unknown file system is treated as ordinary pages
    }
    this.hugetlbfs = "hugetlbfs".equals(type);
    this.fsPageBytes = hugetlbfs ? Math.max(block, platform.pageSizeBytes()) : platform.pageSizeBytes();
    if (hugetlbfs) {
      LOG.info("shm dir {} is hugetlbfs: segments are sized and mapped in pages of {} bytes", shmDir, fsPageBytes);
    }
  }

  /** Where {@code map} and {@code zero} timings go. */
  public void setTimer(OperationTimer timer) {
    this.timer = timer;
  }

  /** The page size of the shm dir's file system: the huge page size on hugetlbfs. */
  public long fsPageBytes() {
    return fsPageBytes;
  }

  /** True when the shm dir is a hugetlbfs mount. */
  public boolean isHugetlbfs() {
    return hugetlbfs;
  }

  /** Rounds a size up to whole pages on hugetlbfs, which needs them; elsewhere sizes stay exact. */
  private long roundUpToPage(long bytes) {
    return hugetlbfs ? (bytes + fsPageBytes - 1) / fsPageBytes * fsPageBytes : bytes;
  }

  public Path shmDir() {
    return shmDir;
  }

  public ManagerInstance owner() {
    return owner;
  }

  public SharedMemoryPlatform platform() {
    return platform;
  }

  /**
   * Creates a segment of {@code sizeBytes} and maps its first {@code mappedBytes}
   * (rounded up to a page). Reserves backing store for the first {@code reservedBytes}.
   */
  public Segment create(int kind, long requestedBytes, long mappedBytes, long reservedBytes, long nowMs) {
    long startNs = System.nanoTime();
    Segment made = createTimed(kind, requestedBytes, mappedBytes, reservedBytes, nowMs);
    timer.record("map", System.nanoTime() - startNs);
    return made;
  }

  private Segment createTimed(int kind, long requestedBytes, long mappedBytes, long reservedBytes, long nowMs) {
    long sizeBytes = roundUpToPage(requestedBytes);
    String fileName = null;
    int fd = -1;
    for (int attempt = 0; fd < 0; attempt++) {
      fileName = names.newFileName();
      try {
        fd = platform.createExclusive(shmDir, fileName, SEGMENT_MODE);
      } catch (PlatformException e) {
        if (e.errno() != PlatformException.EEXIST || attempt >= NAME_ATTEMPTS) {
          throw e;
        }
      }
    }
    Mapping mapping = null;
    try {
      // Held until the header is published: a stale sweep that finds this file headerless
      // and unlocked knows its creator died in the middle of creating it.
      platform.tryLock(fd, CREATION_LOCK_OFFSET, 1, true, fileName);
      platform.truncate(fd, sizeBytes, fileName);
      platform.reserve(fd, 0, Math.min(sizeBytes, roundUpToPage(reservedBytes)), fileName);
      long page = hugetlbfs ? fsPageBytes : platform.pageSizeBytes();
      long mapBytes = Math.min(sizeBytes, (mappedBytes + page - 1) / page * page);
      try {
        mapping = platform.map(fd, 0, mapBytes, true, fileName);
      } catch (PlatformException e) {
        if (!e.isNoMemory()) {
          throw e;
        }
        LOG.warn("mapping {} bytes of segment {} failed: {} (the address space is full, e.g. a lowered "
            + "RLIMIT_AS); mapping only the windows each access needs", mapBytes, fileName, e.strerror());
      }
      Segment s = new Segment(fileName, shmDir.resolve(fileName), kind, sizeBytes, nowMs, fd, mapping, platform,
          fsPageBytes);
      SegmentHeaderLayout.Header h = new SegmentHeaderLayout.Header(kind, sizeBytes, nowMs, owner);
      s.access(0, SegmentHeaderLayout.HEADER_BYTES, (m, at, len) -> SegmentHeaderLayout.write(m, h));
      platform.unlock(fd, CREATION_LOCK_OFFSET, 1, fileName);
      return s;
    } catch (RuntimeException e) {
      if (mapping != null) {
        platform.unmap(mapping);
      }
      closeQuietly(fd, fileName);
      unlinkQuietly(fileName);
      throw e;
    }
  }

  /** Reserves backing store for a range of a segment (posix_fallocate). */
  public void reserve(Segment s, long offsetBytes, long lengthBytes) {
    platform.reserve(s.fd(), offsetBytes, lengthBytes, s.fileName());
  }

  /**
   * Zeroes a range so any process that still maps it reads zeros. On tmpfs the pages go
   * back to the file system (hole punching) and true is returned: the range must be
   * reserved again before reuse. On hugetlbfs, where a hole can only be punched in whole
   * huge pages, the bytes are cleared through a mapping and false is returned.
   */
  public boolean zero(Segment s, long offsetBytes, long lengthBytes) {
    long startNs = System.nanoTime();
    try {
      if (hugetlbfs) {
        s.access(offsetBytes, lengthBytes, (m, at, len) -> m.fill(at, len, (byte) 0));
        return false;
      }
      platform.punchHole(s.fd(), offsetBytes, lengthBytes, s.fileName());
      return true;
    } finally {
      timer.record("zero", System.nanoTime() - startNs);
    }
  }

  /** Zeroes a small range with a memset through the mapping (its pages stay reserved). */
  public void clear(Segment s, long offsetBytes, long lengthBytes) {
    long startNs = System.nanoTime();
    s.access(offsetBytes, lengthBytes, (m, at, len) -> m.fill(at, len, (byte) 0));
    timer.record("zero", System.nanoTime() - startNs);
  }

  /** Unmaps, closes and unlinks a segment. Safe to call twice. */
  public void destroy(Segment s) {
    if (!s.isOpen()) {
      return;
    }
    s.markClosed();
    try {
      if (s.mapping() != null) {
        platform.unmap(s.mapping());
      }
    } finally {
      closeQuietly(s.fd(), s.fileName());
      try {
        platform.unlink(shmDir, s.fileName());
      } catch (PlatformException e) {
        if (e.errno() != PlatformException.ENOENT) {
          throw e;
        }
        // someone else removed it (reported as a shm_dir security event); nothing left to do
        LOG.warn("segment file {} was already gone when its segment was destroyed", s.fileName());
      }
    }
  }

  private void closeQuietly(int fd, String name) {
    try {
      platform.close(fd);
    } catch (PlatformException ignored) {
      // close errors on a file we are abandoning change nothing for the caller
    }
  }

  private void unlinkQuietly(String fileName) {
    try {
      platform.unlink(shmDir, fileName);
    } catch (PlatformException ignored) {
      // already gone
    }
  }
}

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
  /** Mode of every segment file: owner read/write only. */
  public static final int SEGMENT_MODE = 0600;
  private static final int NAME_ATTEMPTS = 8;

  private final SharedMemoryPlatform platform;
  private final Path shmDir;
  private final ManagerInstance owner;
  private final SegmentNames names = new SegmentNames();

  public SegmentStore(SharedMemoryPlatform platform, Path shmDir, ManagerInstance owner) {
    this.platform = platform;
    this.shmDir = shmDir;
    this.owner = owner;
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
  public Segment create(int kind, long sizeBytes, long mappedBytes, long reservedBytes, long nowMs) {
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
      platform.truncate(fd, sizeBytes, fileName);
      platform.reserve(fd, 0, reservedBytes, fileName);
      long page = platform.pageSizeBytes();
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
      Segment s = new Segment(fileName, shmDir.resolve(fileName), kind, sizeBytes, nowMs, fd, mapping, platform);
      SegmentHeaderLayout.Header h = new SegmentHeaderLayout.Header(kind, sizeBytes, nowMs, owner);
      s.access(0, SegmentHeaderLayout.HEADER_BYTES, (m, at, len) -> SegmentHeaderLayout.write(m, h));
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
   * Zeroes a range and gives its pages back to the file system (hole punching), so any
   * process that still maps it reads zeros.
   */
  public void zero(Segment s, long offsetBytes, long lengthBytes) {
    platform.punchHole(s.fd(), offsetBytes, lengthBytes, s.fileName());
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
      platform.unlink(shmDir, s.fileName());
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

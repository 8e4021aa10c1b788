package io.snakepit.shm.segment;

import io.snakepit.shm.platform.Mapping;
import io.snakepit.shm.platform.PlatformException;
import io.snakepit.shm.platform.SharedMemoryPlatform;
import java.nio.file.Path;

/**
 * One open segment file: its name, descriptor and the manager's mapping of its start.
 * Pooled segments are mapped whole (the manager writes region headers anywhere in them);
 * dedicated segments are mapped over the segment header and the one region header only,
 * so the manager never touches their payload pages. When the address space has no room
 * for the whole mapping (ENOMEM, e.g. a lowered RLIMIT_AS), the segment is served through
 * windows mapped per access ({@link #access}).
 *
 * <p>Thread-safety: none; owned by the registry's owner thread. Created and destroyed by
 * {@link SegmentStore}.
 */
public final class Segment {
  private final String fileName;
  private final Path path;
  private final int kind;
  private final long sizeBytes;
  private final long createdMs;
  private final int fd;
  private final Mapping mapping;
  private final SharedMemoryPlatform platform;
  private final long pageBytes;
  private boolean open = true;

  /** {@code mapping} null: the address space had no room, so ranges are mapped as windows. */
  Segment(String fileName, Path path, int kind, long sizeBytes, long createdMs, int fd, Mapping mapping,
      SharedMemoryPlatform platform, long pageBytes) {
    this.fileName = fileName;
    this.path = path;
    this.kind = kind;
    this.sizeBytes = sizeBytes;
    this.createdMs = createdMs;
    this.fd = fd;
    this.mapping = mapping;
    this.platform = platform;
    this.pageBytes = pageBytes;
  }

  /** What to do with a range of the segment, seen through some mapping. */
  @FunctionalInterface
  public interface RangeAction {
    /**
     * @param m             a mapping that holds the range
     * @param offsetInMapping where the range (or this piece of it) starts in {@code m}
     * @param lengthBytes   bytes of the range in this piece
     */
    void apply(Mapping m, long offsetInMapping, long lengthBytes);
  }

  /**
   * Applies {@code action} to {@code [offsetBytes, offsetBytes + lengthBytes)} of the file:
   * through the manager's mapping when that covers the range, otherwise (a dedicated
   * segment's payload, or a segment too large for the address space) through windows
   * mapped for the purpose and unmapped after, halving the window while mmap fails with ENOMEM (down
   * to one page). The range may then arrive in several pieces.
   */
  public void access(long offsetBytes, long lengthBytes, RangeAction action) {
    if (mapping != null && offsetBytes + lengthBytes <= mapping.lengthBytes()) {
      action.apply(mapping, offsetBytes, lengthBytes);
      return;
    }
    long page = pageBytes;
    long window = Math.max(page, lengthBytes);
    long pos = offsetBytes;
    long end = offsetBytes + lengthBytes;
    while (pos < end) {
      long piece = Math.min(window, end - pos);
      long start = pos - pos % page;
      Mapping m;
      try {
        // whole pages: hugetlbfs refuses to unmap a length that is not a multiple of its page
        long mapBytes = Math.min((pos + piece - start + page - 1) / page * page, sizeBytes - start);
        m = platform.map(fd, start, Math.max(mapBytes, pos + piece - start), true, fileName);
      } catch (PlatformException e) {
        if (e.isNoMemory() && window > page) {
          window = Math.max(page, window / 2);
          continue;
        }
        throw e;
      }
      try {
        action.apply(m, pos - start, piece);
      } finally {
        platform.unmap(m);
      }
      pos += piece;
    }
  }

  /** True when the segment is served through windows because it did not fit the address space. */
  public boolean isWindowed() {
    return mapping == null;
  }

  /** The file name in the shm dir, e.g. {@code snkabc…}. */
  public String fileName() {
    return fileName;
  }

  private byte[] shmNameBytes;
  private byte[] pathBytes;

  /** {@link #shmName()} as UTF-8 bytes, computed once. */
  public byte[] shmNameBytes() {
    if (shmNameBytes == null) {
      shmNameBytes = shmName().getBytes(java.nio.charset.StandardCharsets.UTF_8);
    }
    return shmNameBytes;
  }

  /** {@link #path()} as UTF-8 bytes, computed once. */
  public byte[] pathBytes() {
    if (pathBytes == null) {
      pathBytes = path.toString().getBytes(java.nio.charset.StandardCharsets.UTF_8);
    }
    return pathBytes;
  }

  /** The POSIX shm name, e.g. {@code /snkabc…}. */
  public String shmName() {
    return SegmentNames.shmName(fileName);
  }

  /** The full path of the file. */
  public Path path() {
    return path;
  }

  /** {@link SegmentHeaderLayout#KIND_POOLED} or {@link SegmentHeaderLayout#KIND_DEDICATED}. */
  public int kind() {
    return kind;
  }

  public boolean isPooled() {
    return kind == SegmentHeaderLayout.KIND_POOLED;
  }

  public long sizeBytes() {
    return sizeBytes;
  }

  public long createdMs() {
    return createdMs;
  }

  int fd() {
    return fd;
  }

  SharedMemoryPlatform platform() {
    return platform;
  }

  /** The manager's mapping, starting at file offset 0, or null when {@link #isWindowed()}. */
  Mapping mapping() {
    return mapping;
  }

  public boolean isOpen() {
    return open;
  }

  void markClosed() {
    open = false;
  }
}

package io.snakepit.shm.segment;

import io.snakepit.shm.platform.Mapping;
import java.nio.file.Path;

/**
 * One open segment file: its name, descriptor and the manager's mapping of its start.
 * Pooled segments are mapped whole (the manager writes region headers anywhere in them);
 * dedicated segments are mapped over the segment header and the one region header only,
 * so the manager never touches their payload pages.
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
  private boolean open = true;

  Segment(String fileName, Path path, int kind, long sizeBytes, long createdMs, int fd, Mapping mapping) {
    this.fileName = fileName;
    this.path = path;
    this.kind = kind;
    this.sizeBytes = sizeBytes;
    this.createdMs = createdMs;
    this.fd = fd;
    this.mapping = mapping;
  }

  /** The file name in the shm dir, e.g. {@code snkabc…}. */
  public String fileName() {
    return fileName;
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

  /** The manager's mapping, starting at file offset 0. */
  public Mapping mapping() {
    return mapping;
  }

  public boolean isOpen() {
    return open;
  }

  void markClosed() {
    open = false;
  }
}

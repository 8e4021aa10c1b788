package io.snakepit.shm.platform;

/**
 * Capabilities that differ between the operating systems behind {@link SharedMemoryPlatform}.
 * Linux has all of them; {@link OsFamily#features()} says which the others have, and
 * docs/PLATFORMS.md explains what each platform does instead.
 */
public enum PlatformFeature {
  /**
   * Segments are files in a directory that can be listed, so a stale sweep and the
   * offline diagnostics can find them (Linux: the shm dir). macOS's POSIX shm namespace
   * and Windows's object namespace cannot be listed by name prefix.
   */
  SEGMENT_DIRECTORY,
  /**
   * {@link SharedMemoryPlatform#reserve} guarantees backing store before the first touch,
   * so a full system fails a call instead of faulting later (Linux: posix_fallocate;
   * Windows: the whole section is committed by CreateFileMapping with SEC_COMMIT).
   */
  RESERVED_BACKING,
  /** {@link SharedMemoryPlatform#punchHole} gives pages back; elsewhere it writes zeros. */
  HOLE_PUNCH,
  /**
   * {@link SharedMemoryPlatform#tryLock} excludes other processes and
   * {@link SharedMemoryPlatform#isWriteLockedByOthers} can see their locks (Linux: OFD
   * locks). Elsewhere locks exclude only holders inside this process and the probe fails.
   */
  CROSS_PROCESS_LOCKS,
  /** {@link SharedMemoryPlatform#truncate} may change a size that was already set. */
  RESIZE,
  /**
   * {@link SharedMemoryPlatform#unlink} removes the name at once (mappings stay valid).
   * On Windows a name lives as long as any process holds a handle to the section.
   */
  UNLINK_REMOVES_NAME
}

package io.snakepit.shm.platform;

/**
 * A shared mapping of part of a segment, with bounds-checked access in bytes relative to
 * the start of the mapping. Multi-byte values are little-endian, the layout's byte order.
 *
 * <p>Thread-safety: reads and writes are plain memory accesses; callers order them (the
 * registry owner thread is the only Java writer). {@link #putLongRelease} and
 * {@link #getLongAcquire} give release/acquire ordering for publication fields.
 * Use after {@link SharedMemoryPlatform#unmap} throws IllegalStateException.
 */
public interface Mapping {
  /** Offset in the file where this mapping starts. */
  long fileOffsetBytes();

  /** Length of the mapping in bytes. */
  long lengthBytes();

  /** The segment name, for error messages. */
  String name();

  byte getByte(long offset);

  void putByte(long offset, byte value);

  short getShort(long offset);

  void putShort(long offset, short value);

  int getInt(long offset);

  void putInt(long offset, int value);

  long getLong(long offset);

  void putLong(long offset, long value);

  /** Stores with release semantics: every earlier write is visible before this one. */
  void putLongRelease(long offset, long value);

  /** Loads with acquire semantics. */
  long getLongAcquire(long offset);

  /** Stores a 4-byte aligned int with release semantics. */
  void putIntRelease(long offset, int value);

  /** Loads a 4-byte aligned int with acquire semantics. */
  int getIntAcquire(long offset);

  void getBytes(long offset, byte[] dst, int dstIndex, int length);

  void putBytes(long offset, byte[] src, int srcIndex, int length);

  /** Fills {@code [offset, offset + length)} with {@code value}. */
  void fill(long offset, long length, byte value);

  /** True until unmapped. */
  boolean isMapped();
}

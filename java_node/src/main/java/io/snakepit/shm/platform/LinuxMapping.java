package io.snakepit.shm.platform;

import com.sun.jna.Pointer;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Objects;

/**
 * A {@link Mapping} over memory mapped by {@link LinuxPlatform#map}. Plain accessors go
 * through a JNA {@link Pointer} at the mapped address; every access is checked against
 * {@link #lengthBytes()}, against writes to a read-only mapping (which would crash the
 * JVM with SIGSEGV) and against use after {@link LinuxPlatform#unmap}.
 *
 * <p>Byte order: multi-byte values are read and written in native order, which must be
 * little-endian (x86_64, aarch64); the constructor refuses anything else.
 *
 * <p>Ordered accesses: {@link #putLongRelease} and {@link #getLongAcquire} use a
 * {@link VarHandle} view of a direct {@link ByteBuffer} over the mapping, which makes the
 * 8-byte access both single-copy atomic and release/acquire ordered (another process never
 * sees half a publication word). They need an 8-byte aligned offset.
 *
 * <p>Thread-safety: none beyond the ordered accesses; the mapping is confined to the
 * caller's thread like every other registry structure. In particular
 * {@link LinuxPlatform#unmap} must not race with accesses from another thread: the
 * "unmapped" state is a plain field, and a racing access could touch unmapped memory.
 *
 * <p>SIGBUS: touching a mapped page that lies beyond the end of the file, or that tmpfs
 * cannot back, kills the JVM. Callers map within the file size and reserve first.
 */
final class LinuxMapping implements Mapping {
  private static final VarHandle INT_LE =
      MethodHandles.byteBufferViewVarHandle(int[].class, ByteOrder.LITTLE_ENDIAN);
  private static final VarHandle LONG_LE =
      MethodHandles.byteBufferViewVarHandle(long[].class, ByteOrder.LITTLE_ENDIAN);
  /** Largest window a ByteBuffer can cover, kept a multiple of 8 so aligned longs fit. */
  private static final long MAX_WINDOW_BYTES = Integer.MAX_VALUE & ~7L;

  private final Pointer base;
  private final long fileOffsetBytes;
  private final long lengthBytes;
  private final boolean writable;
  private final String name;
  /** Covers the first min(lengthBytes, MAX_WINDOW_BYTES) bytes, for the ordered accesses. */
  private final ByteBuffer window;
  private boolean mapped = true;

  /**
   * @param base the address mmap returned
   * @param fileOffsetBytes offset in the file the mapping starts at
   * @param lengthBytes length passed to mmap
   * @param writable whether the mapping was made with PROT_WRITE
   * @param name the segment name, for error messages
   */
  LinuxMapping(Pointer base, long fileOffsetBytes, long lengthBytes, boolean writable, String name) {
    requireLittleEndian();
    this.base = Objects.requireNonNull(base, "base");
    this.fileOffsetBytes = fileOffsetBytes;
    this.lengthBytes = lengthBytes;
    this.writable = writable;
    this.name = name;
    this.window = base.getByteBuffer(0, Math.min(lengthBytes, MAX_WINDOW_BYTES)).order(ByteOrder.LITTLE_ENDIAN);
  }

  /**
   * Fails unless this JVM's native byte order is little-endian, the layout's byte order.
   *
   * @throws UnsupportedOperationException on a big-endian platform
   */
  static void requireLittleEndian() {
    if (ByteOrder.nativeOrder() != ByteOrder.LITTLE_ENDIAN) {
      throw new UnsupportedOperationException("snakepit-shm needs a little-endian CPU; native order is "
          + ByteOrder.nativeOrder());
    }
  }

  /** The mapped address; valid while {@link #isMapped()}. */
  /** True when {@code [offset, offset + bytes)} lies in the ByteBuffer window (fast path). */
  private boolean inWindow(long offset, int bytes) {
    return offset <= window.capacity() - bytes;
  }

  Pointer base() {
    return base;
  }

  /** Whether the mapping was made writable. */
  boolean writable() {
    return writable;
  }

  /**
   * Marks the mapping unmapped, so that every later access throws.
   *
   * @return true when it was mapped until now (the caller then munmaps it)
   */
  boolean markUnmapped() {
    boolean was = mapped;
    mapped = false;
    return was;
  }

  @Override
  public long fileOffsetBytes() {
    return fileOffsetBytes;
  }

  @Override
  public long lengthBytes() {
    return lengthBytes;
  }

  @Override
  public String name() {
    return name;
  }

  @Override
  public boolean isMapped() {
    return mapped;
  }

  @Override
  public byte getByte(long offset) {
    checkRead(offset, Byte.BYTES);
    return base.getByte(offset);
  }

  @Override
  public void putByte(long offset, byte value) {
    checkWrite(offset, Byte.BYTES);
    base.setByte(offset, value);
  }

  @Override
  public short getShort(long offset) {
    checkRead(offset, Short.BYTES);
    return inWindow(offset, Short.BYTES) ? window.getShort((int) offset) : base.getShort(offset);
  }

  @Override
  public void putShort(long offset, short value) {
    checkWrite(offset, Short.BYTES);
    if (inWindow(offset, Short.BYTES)) {
      window.putShort((int) offset, value);
    } else {
      base.setShort(offset, value);
    }
  }

  @Override
  public int getInt(long offset) {
    checkRead(offset, Integer.BYTES);
    return inWindow(offset, Integer.BYTES) ? window.getInt((int) offset) : base.getInt(offset);
  }

  @Override
  public void putInt(long offset, int value) {
    checkWrite(offset, Integer.BYTES);
    if (inWindow(offset, Integer.BYTES)) {
      window.putInt((int) offset, value);
    } else {
      base.setInt(offset, value);
    }
  }

  @Override
  public long getLong(long offset) {
    checkRead(offset, Long.BYTES);
    return inWindow(offset, Long.BYTES) ? window.getLong((int) offset) : base.getLong(offset);
  }

  @Override
  public void putLong(long offset, long value) {
    checkWrite(offset, Long.BYTES);
    if (inWindow(offset, Long.BYTES)) {
      window.putLong((int) offset, value);
    } else {
      base.setLong(offset, value);
    }
  }

  /**
   * {@inheritDoc}
   *
   * @throws IllegalArgumentException when {@code offset} is not a multiple of 8
   */
  @Override
  public void putLongRelease(long offset, long value) {
    checkWrite(offset, Long.BYTES);
    checkAligned(offset);
    if (offset <= window.capacity() - Long.BYTES) {
      LONG_LE.setRelease(window, (int) offset, value);
    } else {
      LONG_LE.setRelease(base.getByteBuffer(offset, Long.BYTES), 0, value);
    }
  }

  /**
   * {@inheritDoc}
   *
   * @throws IllegalArgumentException when {@code offset} is not a multiple of 8
   */
  @Override
  public long getLongAcquire(long offset) {
    checkRead(offset, Long.BYTES);
    checkAligned(offset);
    if (offset <= window.capacity() - Long.BYTES) {
      return (long) LONG_LE.getAcquire(window, (int) offset);
    }
    return (long) LONG_LE.getAcquire(base.getByteBuffer(offset, Long.BYTES), 0);
  }

  @Override
  public void putIntRelease(long offset, int value) {
    checkWrite(offset, Integer.BYTES);
    checkAligned(offset, Integer.BYTES);
    if (offset <= window.capacity() - Integer.BYTES) {
      INT_LE.setRelease(window, (int) offset, value);
    } else {
      INT_LE.setRelease(base.getByteBuffer(offset, Integer.BYTES), 0, value);
    }
  }

  @Override
  public int getIntAcquire(long offset) {
    checkRead(offset, Integer.BYTES);
    checkAligned(offset, Integer.BYTES);
    if (offset <= window.capacity() - Integer.BYTES) {
      return (int) INT_LE.getAcquire(window, (int) offset);
    }
    return (int) INT_LE.getAcquire(base.getByteBuffer(offset, Integer.BYTES), 0);
  }

  @Override
  public void getBytes(long offset, byte[] dst, int dstIndex, int length) {
    Objects.checkFromIndexSize(dstIndex, length, dst.length);
    checkRead(offset, length);
    base.read(offset, dst, dstIndex, length);
  }

  @Override
  public void putBytes(long offset, byte[] src, int srcIndex, int length) {
    Objects.checkFromIndexSize(srcIndex, length, src.length);
    checkWrite(offset, length);
    base.write(offset, src, srcIndex, length);
  }

  /** {@inheritDoc} One memset, however long the range. */
  @Override
  public void fill(long offset, long length, byte value) {
    checkWrite(offset, length);
    base.setMemory(offset, length, value);
  }

  @Override
  public String toString() {
    return "LinuxMapping[" + name + " file offset " + fileOffsetBytes + ", " + lengthBytes + " bytes, "
        + (writable ? "read-write" : "read-only") + (mapped ? "" : ", unmapped") + "]";
  }

  private void checkRead(long offset, long length) {
    if (!mapped) {
      throw new IllegalStateException("mapping of segment '" + name + "' (file offset " + fileOffsetBytes
          + ", " + lengthBytes + " bytes) was unmapped; it can no longer be accessed");
    }
    if (offset < 0 || length < 0 || offset > lengthBytes - length) {
      throw new IndexOutOfBoundsException("access of " + length + " bytes at offset " + offset
          + " is outside the mapping of segment '" + name + "' (" + lengthBytes + " bytes)");
    }
  }

  private void checkWrite(long offset, long length) {
    checkRead(offset, length);
    if (!writable) {
      throw new IllegalStateException("mapping of segment '" + name + "' is read-only; cannot write "
          + length + " bytes at offset " + offset);
    }
  }

  private void checkAligned(long offset) {
    checkAligned(offset, Long.BYTES);
  }

  private void checkAligned(long offset, int bytes) {
    if ((offset & (bytes - 1)) != 0) {
      throw new IllegalArgumentException("ordered " + bytes + "-byte access at offset " + offset + " of segment '"
          + name + "' must be " + bytes + "-byte aligned");
    }
  }
}

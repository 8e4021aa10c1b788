package io.snakepit.shm.registry;

import java.util.Arrays;

/**
 * The block sizes of pooled segments: segregated size classes, {@code perDoubling} classes
 * between consecutive powers of two (4 by default: 128, 192, 256, 320, 384, 448, 512,
 * 640, ...), every size a multiple of 64 bytes, the largest covering the biggest pooled
 * block. A block holds the 64-byte region header and the payload, so a request is
 * rounded up by at most 1/perDoubling of its size plus alignment.
 *
 * <p>Thread-safety: immutable.
 */
public final class SizeClasses {
  /** Smallest block: a region header and 64 bytes of payload. */
  public static final long MIN_BLOCK_BYTES = 128;
  private static final long ALIGN = 64;

  private final long[] blockBytes;
  private final int perDoubling;

  /**
   * @param maxBlockBytes the largest block any pooled region needs (header included)
   * @param perDoubling   classes per power of two: 1, 2, 4 or 8
   */
  public SizeClasses(long maxBlockBytes, int perDoubling) {
    if (Integer.bitCount(perDoubling) != 1 || perDoubling > 8) {
      throw new IllegalArgumentException("classes per doubling must be 1, 2, 4 or 8, got " + perDoubling);
    }
    this.perDoubling = perDoubling;
    long max = Math.max(MIN_BLOCK_BYTES, align(maxBlockBytes));
    long[] sizes = new long[64 * perDoubling];
    int n = 0;
    for (long base = MIN_BLOCK_BYTES; n == 0 || sizes[n - 1] < max; base *= 2) {
      for (int i = 0; i < perDoubling; i++) {
        long size = align(base + base * i / perDoubling);
        if ((n == 0 || size > sizes[n - 1])) {
          sizes[n++] = Math.min(size, max);
          if (size >= max) {
            break;
          }
        }
      }
    }
    this.blockBytes = Arrays.copyOf(sizes, n);
  }

  private static long align(long bytes) {
    return (bytes + ALIGN - 1) & -ALIGN;
  }

  /** Number of classes. */
  public int count() {
    return blockBytes.length;
  }

  public int perDoubling() {
    return perDoubling;
  }

  /** Block size of class {@code c} in bytes. */
  public long blockBytes(int c) {
    return blockBytes[c];
  }

  /** The largest block size. */
  public long maxBlockBytes() {
    return blockBytes[blockBytes.length - 1];
  }

  /** The smallest class whose blocks hold {@code neededBytes}, or -1 when none does. */
  public int classOf(long neededBytes) {
    int i = Arrays.binarySearch(blockBytes, neededBytes);
    if (i >= 0) {
      return i;
    }
    int insertion = -i - 1;
    return insertion < blockBytes.length ? insertion : -1;
  }
}

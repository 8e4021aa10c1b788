package io.snakepit.shm.registry;

import java.util.Comparator;
import java.util.Map;
import java.util.NavigableSet;
import java.util.TreeMap;
import java.util.TreeSet;

/**
 * Best-fit allocation of byte ranges inside one pooled segment, with coalescing of
 * neighbouring free ranges. Offsets and lengths are in bytes and multiples of the
 * alignment the caller uses; the allocator itself does not align.
 *
 * <p>Free ranges are indexed twice: by offset (to merge neighbours on free) and by
 * (length, offset) (to find the smallest range that fits). Both operations are
 * O(log n) in the number of free ranges.
 *
 * <p>Thread-safety: none; owned by the registry's owner thread.
 */
public final class BlockAllocator {
  private final long startBytes;
  private final long endBytes;
  private final TreeMap<Long, Long> freeByOffset = new TreeMap<>();
  private final NavigableSet<long[]> freeBySize =
      new TreeSet<>(Comparator.<long[]>comparingLong(r -> r[1]).thenComparingLong(r -> r[0]));
  private long freeBytes;

  /** Manages {@code [startBytes, endBytes)}, all free. */
  public BlockAllocator(long startBytes, long endBytes) {
    if (startBytes < 0 || endBytes <= startBytes) {
      throw new IllegalArgumentException("empty range [" + startBytes + ", " + endBytes + ")");
    }
    this.startBytes = startBytes;
    this.endBytes = endBytes;
    addFree(startBytes, endBytes - startBytes);
  }

  /** Returns the offset of a free range of {@code lengthBytes}, now taken, or -1 if none fits. */
  public long allocate(long lengthBytes) {
    if (lengthBytes <= 0) {
      throw new IllegalArgumentException("length must be positive: " + lengthBytes);
    }
    long[] fit = freeBySize.ceiling(new long[] {Long.MIN_VALUE, lengthBytes});
    if (fit == null) {
      return -1;
    }
    long offset = fit[0];
    long length = fit[1];
    removeFree(offset, length);
    if (length > lengthBytes) {
      addFree(offset + lengthBytes, length - lengthBytes);
    }
    return offset;
  }

  /** Gives back a range returned by {@link #allocate}; merges it with free neighbours. */
  public void free(long offset, long lengthBytes) {
    if (offset < startBytes || offset + lengthBytes > endBytes || lengthBytes <= 0) {
      throw new IllegalArgumentException("range outside the segment: " + offset + "+" + lengthBytes);
    }
    Map.Entry<Long, Long> before = freeByOffset.floorEntry(offset);
    if (before != null && before.getKey() + before.getValue() > offset) {
      throw new IllegalStateException("double free at " + offset);
    }
    long start = offset;
    long length = lengthBytes;
    if (before != null && before.getKey() + before.getValue() == offset) {
      removeFree(before.getKey(), before.getValue());
      start = before.getKey();
      length += before.getValue();
    }
    Long afterLength = freeByOffset.get(offset + lengthBytes);
    if (afterLength != null) {
      removeFree(offset + lengthBytes, afterLength);
      length += afterLength;
    }
    addFree(start, length);
  }

  /** Free bytes in all ranges. */
  public long freeBytes() {
    return freeBytes;
  }

  /** The longest free range in bytes (0 when full). */
  public long largestFreeBytes() {
    return freeBySize.isEmpty() ? 0 : freeBySize.last()[1];
  }

  /** Bytes managed. */
  public long capacityBytes() {
    return endBytes - startBytes;
  }

  /** True when nothing is allocated. */
  public boolean isEmpty() {
    return freeBytes == endBytes - startBytes;
  }

  /** Number of separate free ranges (a fragmentation measure). */
  public int freeRangeCount() {
    return freeByOffset.size();
  }

  private void addFree(long offset, long length) {
    freeByOffset.put(offset, length);
    freeBySize.add(new long[] {offset, length});
    freeBytes += length;
  }

  private void removeFree(long offset, long length) {
    freeByOffset.remove(offset);
    freeBySize.remove(new long[] {offset, length});
    freeBytes -= length;
  }
}

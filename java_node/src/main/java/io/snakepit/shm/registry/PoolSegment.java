package io.snakepit.shm.registry;

import io.snakepit.shm.segment.Segment;
import io.snakepit.shm.segment.SegmentHeaderLayout;

/**
 * One pooled segment's blocks: a bump pointer over never-used space and, per size class, a
 * stack of freed blocks. A freed block is reused only for its own class; when the last
 * block of a segment is freed the segment is reset (all space back to the bump pointer),
 * so an empty segment serves any class again.
 *
 * <p>Free-stack entries are block offsets (multiples of 64) whose bit 0 says the block's
 * pages were given back (hole punched) and must be reserved again before reuse.
 *
 * <p>Thread-safety: none; owned by the registry's owner thread.
 */
final class PoolSegment {
  /** Bit 0 of a free-stack entry: the block's pages were punched out. */
  static final long PUNCHED = 1;

  final Segment segment;
  final SizeClasses classes;
  /** Position in the allocator's table; lower slots are filled first. */
  final int slot;
  private final long startBytes = SegmentHeaderLayout.HEADER_BYTES;
  private final long endBytes;
  private final LongStack[] freeByClass;
  private long bumpBytes;
  /**
   * 64-byte granules (from {@code startBytes}) where a block header has been written. A
   * free clears its block's payload but leaves the header (marked freed, so stale
   * descriptors are recognised); after a reset, blocks of another layout may be bumped over
   * such headers, which {@link #staleHeadersIn} finds so they are cleared first.
   */
  private final java.util.BitSet headerGranules = new java.util.BitSet();
  private long freeListBytes;
  private int liveBlocks;
  /** Some range was punched since the last reset: reserve everything again on reset. */
  private boolean hasHoles;
  /** Configuration changed: no new blocks here; released once empty. */
  boolean draining;
  /** When the segment last became empty, or -1 while it has blocks. */
  long emptySinceMs;

  PoolSegment(Segment segment, SizeClasses classes, int slot, long nowMs) {
    this.segment = segment;
    this.classes = classes;
    this.slot = slot;
    this.endBytes = segment.sizeBytes() & -64L;
    this.freeByClass = new LongStack[classes.count()];
    this.bumpBytes = startBytes;
    this.emptySinceMs = nowMs;
  }

  boolean hasFree(int sizeClass) {
    LongStack s = freeByClass[sizeClass];
    return s != null && !s.isEmpty();
  }

  /** Pops a freed block of the class: its offset, with {@link #PUNCHED} possibly set. */
  long popFree(int sizeClass) {
    long entry = freeByClass[sizeClass].pop();
    freeListBytes -= classes.blockBytes(sizeClass);
    liveBlocks++;
    emptySinceMs = -1;
    return entry;
  }

  private int granule(long offset) {
    return (int) ((offset - startBytes) / RegionLayoutMath.BLOCK_OVERHEAD_BYTES);
  }

  /**
   * Offsets of earlier blocks' headers inside the payload of the block just bumped at
   * {@code offset} (there are some only after a reset changed the layout); each is
   * forgotten as it is returned, since the caller clears it.
   */
  long[] staleHeadersIn(long offset, long blockBytes) {
    int from = granule(offset) + 1;
    int to = granule(offset + blockBytes);
    int first = headerGranules.nextSetBit(from);
    if (first < 0 || first >= to) {
      return EMPTY; // the common case: one bit lookup, no allocation
    }
    long[] out = new long[8];
    int k = 0;
    for (int g = first; g >= 0 && g < to; g = headerGranules.nextSetBit(g + 1)) {
      if (k == out.length) {
        out = java.util.Arrays.copyOf(out, k * 2);
      }
      out[k++] = startBytes + (long) g * RegionLayoutMath.BLOCK_OVERHEAD_BYTES;
    }
    headerGranules.clear(from, to);
    return java.util.Arrays.copyOf(out, k);
  }

  private static final long[] EMPTY = new long[0];

  /** Never-used bytes left at the end. */
  long bumpRoomBytes() {
    return endBytes - bumpBytes;
  }

  /** Takes {@code blockBytes} from the never-used space; returns the offset or -1. */
  long bump(long blockBytes) {
    if (endBytes - bumpBytes < blockBytes) {
      return -1;
    }
    long offset = bumpBytes;
    bumpBytes += blockBytes;
    headerGranules.set(granule(offset));
    liveBlocks++;
    emptySinceMs = -1;
    return offset;
  }

  /**
   * Returns a block. Returns true when the segment became empty and was reset: the
   * caller then drops it from every free-class index.
   */
  boolean free(long offset, int sizeClass, boolean punched, long nowMs) {
    liveBlocks--;
    hasHoles |= punched;
    if (liveBlocks == 0) {
      reset(nowMs);
      return true;
    }
    LongStack s = freeByClass[sizeClass];
    if (s == null) {
      s = new LongStack();
      freeByClass[sizeClass] = s;
    }
    s.push(punched ? offset | PUNCHED : offset);
    freeListBytes += classes.blockBytes(sizeClass);
    return false;
  }

  private void reset(long nowMs) {
    for (LongStack s : freeByClass) {
      if (s != null) {
        s.clear();
      }
    }
    bumpBytes = startBytes;
    freeListBytes = 0;
    emptySinceMs = nowMs;
  }

  /** True when the last reset left punched ranges that must be reserved again. */
  boolean takeHoles() {
    boolean h = hasHoles;
    hasHoles = false;
    return h;
  }

  boolean isEmpty() {
    return liveBlocks == 0;
  }

  int liveBlocks() {
    return liveBlocks;
  }

  long capacityBytes() {
    return endBytes - startBytes;
  }

  /** Bytes not in live blocks: never used plus freed. */
  long freeBytes() {
    return bumpRoomBytes() + freeListBytes;
  }

  /** The largest block one allocation could get here now. */
  long largestFreeBytes() {
    long largest = bumpRoomBytes();
    for (int c = freeByClass.length - 1; c >= 0 && classes.blockBytes(c) > largest; c--) {
      if (hasFree(c)) {
        return classes.blockBytes(c);
      }
    }
    return largest;
  }
}

package io.snakepit.shm.registry;

import io.snakepit.shm.platform.PlatformException;
import io.snakepit.shm.segment.Segment;
import io.snakepit.shm.segment.SegmentHeaderLayout;
import io.snakepit.shm.segment.SegmentStore;
import java.util.ArrayList;
import java.util.BitSet;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Blocks in pooled segments, by segregated size classes (docs/ALLOCATOR.md).
 *
 * <p>Placement: a request takes the lowest-numbered segment that has a freed block of its
 * class or never-used room, so live blocks gather in the oldest segments and the newest
 * drain; an empty segment is reset whole and, after {@code pool_idle_release_ms}, given
 * back to the OS. A change of the class layout or segment size puts the existing segments
 * in <i>draining</i> mode: they take no new blocks and go when empty.
 *
 * <p>Memory: a new segment is reserved whole with posix_fallocate (halving its size while
 * the shm dir lacks room), so handing out a block costs no system call. A freed block is
 * zeroed with a memset when small and by hole punching when large (its pages go back to
 * the file system and are reserved again on reuse).
 *
 * <p>Thread-safety: none; owned by the registry's owner thread.
 */
final class PoolAllocator {
  private static final Logger LOG = LoggerFactory.getLogger(PoolAllocator.class);
  /** Blocks from this size on are zeroed by punching holes instead of a memset. */
  static final long PUNCH_MIN_BYTES = 256 * 1024;
  private static final long MIN_SEGMENT_BYTES = 64 * 1024;

  /** Where a block was placed. */
  record Block(PoolSegment pool, long offsetBytes, int sizeClass, long blockBytes) {}

  private final SegmentStore store;
  private final List<PoolSegment> bySlot = new ArrayList<>();
  private final BitSet usedSlots = new BitSet();
  /** Per class: slots of (non-draining) segments with a freed block of that class. */
  private BitSet[] withFree;
  /** Slots of non-draining segments with never-used room. */
  private final BitSet withRoom = new BitSet();
  private SizeClasses classes;
  private long segmentBytes;

  PoolAllocator(SegmentStore store, SizeClasses classes, long segmentBytes) {
    this.store = store;
    this.classes = classes;
    this.segmentBytes = segmentBytes;
    this.withFree = newIndex(classes);
  }

  private static BitSet[] newIndex(SizeClasses classes) {
    BitSet[] index = new BitSet[classes.count()];
    for (int i = 0; i < index.length; i++) {
      index[i] = new BitSet();
    }
    return index;
  }

  SizeClasses classes() {
    return classes;
  }

  /** Applies a new class layout or segment size: existing segments drain. */
  void reconfigure(SizeClasses newClasses, long newSegmentBytes) {
    boolean layoutChanged = newClasses.count() != classes.count()
        || newClasses.maxBlockBytes() != classes.maxBlockBytes()
        || newClasses.perDoubling() != classes.perDoubling();
    if (!layoutChanged && newSegmentBytes == segmentBytes) {
      return;
    }
    for (PoolSegment p : bySlot) {
      if (p != null) {
        p.draining = true;
      }
    }
    withRoom.clear();
    classes = newClasses;
    segmentBytes = newSegmentBytes;
    withFree = newIndex(newClasses);
    LOG.info("pool layout changed ({} classes, largest block {} bytes, segments of {} bytes); "
        + "existing pooled segments drain", newClasses.count(), newClasses.maxBlockBytes(), newSegmentBytes);
  }

  /** A block for {@code neededBytes} (header included), reserved and ready to write. */
  Block allocate(long neededBytes, long nowMs) {
    int c = classes.classOf(neededBytes);
    if (c < 0) {
      throw new IllegalArgumentException(neededBytes + " bytes do not fit a pooled block");
    }
    long blockBytes = classes.blockBytes(c);
    int freeSlot = withFree[c].nextSetBit(0);
    int roomSlot = firstSlotWithRoom(blockBytes, freeSlot < 0 ? Integer.MAX_VALUE : freeSlot);
    if (freeSlot >= 0 && roomSlot < 0) {
      return fromFreeList(bySlot.get(freeSlot), c, blockBytes);
    }
    PoolSegment pool = roomSlot >= 0 ? bySlot.get(roomSlot) : newSegment(blockBytes, nowMs);
    long offset = pool.bump(blockBytes);
    if (pool.bumpRoomBytes() < SizeClasses.MIN_BLOCK_BYTES) {
      withRoom.clear(pool.slot);
    }
    // a payload must not start out showing headers of blocks from before a reset
    for (long header : pool.staleHeadersIn(offset, blockBytes)) {
      store.clear(pool.segment, header, RegionLayoutMath.BLOCK_OVERHEAD_BYTES);
    }
    return new Block(pool, offset, c, blockBytes);
  }

  private Block fromFreeList(PoolSegment pool, int c, long blockBytes) {
    long entry = pool.popFree(c);
    if (!pool.hasFree(c)) {
      withFree[c].clear(pool.slot);
    }
    long offset = entry & ~PoolSegment.PUNCHED;
    if ((entry & PoolSegment.PUNCHED) != 0) {
      try {
        store.reserve(pool.segment, offset, blockBytes);
      } catch (PlatformException e) {
        free(new Block(pool, offset, c, blockBytes), false, true, System.currentTimeMillis());
        throw e;
      }
    }
    return new Block(pool, offset, c, blockBytes);
  }

  /** The lowest slot below {@code belowSlot} with never-used room for the block, or -1. */
  private int firstSlotWithRoom(long blockBytes, int belowSlot) {
    for (int s = withRoom.nextSetBit(0); s >= 0 && s < belowSlot; s = withRoom.nextSetBit(s + 1)) {
      if (bySlot.get(s).bumpRoomBytes() >= blockBytes) {
        return s;
      }
    }
    return -1;
  }

  private PoolSegment newSegment(long blockBytes, long nowMs) {
    long minBytes = Math.max(MIN_SEGMENT_BYTES, SegmentHeaderLayout.HEADER_BYTES + blockBytes);
    long size = Math.max(segmentBytes & -64L, minBytes);
    while (true) {
      try {
        Segment s = store.create(SegmentHeaderLayout.KIND_POOLED, size, size, size, nowMs);
        int slot = usedSlots.nextClearBit(0);
        usedSlots.set(slot);
        PoolSegment p = new PoolSegment(s, classes, slot, nowMs);
        while (bySlot.size() <= slot) {
          bySlot.add(null);
        }
        bySlot.set(slot, p);
        withRoom.set(slot);
        LOG.debug("created pooled segment {} ({} bytes) in slot {}", s.shmName(), size, slot);
        return p;
      } catch (PlatformException e) {
        if (!e.isNoSpace() || size / 2 < minBytes) {
          throw e;
        }
        size = Math.max(minBytes, (size / 2) & -64L);
        LOG.info("shm dir lacks room for a full pooled segment; trying {} bytes", size);
      }
    }
  }

  /**
   * Returns a block. {@code zero}: clear its payload (memset for small blocks, hole
   * punching for large ones). {@code alreadyPunched}: its pages are not reserved.
   */
  void free(Block b, boolean zero, boolean alreadyPunched, long nowMs) {
    PoolSegment pool = b.pool();
    long payloadOffset = b.offsetBytes() + RegionLayoutMath.BLOCK_OVERHEAD_BYTES;
    long payloadBytes = b.blockBytes() - RegionLayoutMath.BLOCK_OVERHEAD_BYTES;
    boolean punched = alreadyPunched;
    if (zero && !alreadyPunched) {
      if (b.blockBytes() >= PUNCH_MIN_BYTES) {
        punched = store.zero(pool.segment, payloadOffset, payloadBytes);
      } else {
        store.clear(pool.segment, payloadOffset, payloadBytes);
      }
    }
    boolean emptied = pool.free(b.offsetBytes(), b.sizeClass(), punched, nowMs);
    if (emptied) {
      onEmptied(pool);
    } else if (!pool.draining && pool.classes == classes) {
      withFree[b.sizeClass()].set(pool.slot);
    }
  }

  private void onEmptied(PoolSegment pool) {
    for (BitSet index : withFree) {
      index.clear(pool.slot);
    }
    if (pool.draining) {
      withRoom.clear(pool.slot);
      return;
    }
    if (pool.takeHoles()) {
      try {
        store.reserve(pool.segment, SegmentHeaderLayout.HEADER_BYTES, pool.capacityBytes());
      } catch (PlatformException e) {
        LOG.info("could not reserve emptied segment {} again ({}); it drains", pool.segment.shmName(), e.getMessage());
        pool.draining = true;
        withRoom.clear(pool.slot);
        return;
      }
    }
    withRoom.set(pool.slot);
  }

  /** Releases empty segments idle for {@code idleMs} (all empty ones when {@code idleMs} is 0). */
  int releaseEmpty(long nowMs, long idleMs) {
    int released = 0;
    for (PoolSegment p : new ArrayList<>(bySlot)) {
      if (p != null && p.isEmpty() && p.emptySinceMs >= 0 && nowMs - p.emptySinceMs >= idleMs) {
        remove(p);
        released++;
      }
    }
    return released;
  }

  private void remove(PoolSegment p) {
    bySlot.set(p.slot, null);
    usedSlots.clear(p.slot);
    withRoom.clear(p.slot);
    for (BitSet index : withFree) {
      index.clear(p.slot);
    }
    try {
      store.destroy(p.segment);
    } catch (PlatformException e) {
      LOG.error("removing pooled segment {}: {}", p.segment.shmName(), e.getMessage());
    }
  }

  /** Removes every segment (shutdown). */
  void destroyAll() {
    for (PoolSegment p : new ArrayList<>(bySlot)) {
      if (p != null) {
        remove(p);
      }
    }
  }

  /** Live segments, lowest slot first. */
  List<PoolSegment> segments() {
    List<PoolSegment> out = new ArrayList<>();
    for (PoolSegment p : bySlot) {
      if (p != null) {
        out.add(p);
      }
    }
    return out;
  }
}

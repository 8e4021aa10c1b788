package io.snakepit.shm.registry;

import io.snakepit.shm.segment.Segment;
import io.snakepit.shm.segment.SegmentHeaderLayout;

/** A pooled segment and the allocator of its blocks. Owned by the registry's owner thread. */
final class PoolSegment {
  final Segment segment;
  final BlockAllocator blocks;
  /** When the segment last became empty, or -1 while it holds regions. */
  long emptySinceMs;

  PoolSegment(Segment segment, long nowMs) {
    this.segment = segment;
    this.blocks = new BlockAllocator(SegmentHeaderLayout.HEADER_BYTES, segment.sizeBytes());
    this.emptySinceMs = nowMs;
  }
}

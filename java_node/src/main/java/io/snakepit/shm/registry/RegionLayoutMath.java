package io.snakepit.shm.registry;

import io.snakepit.shm.segment.RegionHeaderLayout;
import io.snakepit.shm.segment.SegmentHeaderLayout;

/** Sizes of blocks and dedicated segments, in bytes, derived from the layout. */
final class RegionLayoutMath {
  /** A block's bytes beyond its payload: the region header. */
  static final long BLOCK_OVERHEAD_BYTES = RegionHeaderLayout.HEADER_BYTES;

  private RegionLayoutMath() {}

  /** Bytes of a block holding {@code payloadBytes}: header + payload rounded up to 64. */
  static long blockBytes(long payloadBytes) {
    return BLOCK_OVERHEAD_BYTES + RegionHeaderLayout.alignUp(payloadBytes);
  }

  /** File size of a dedicated segment for {@code payloadBytes}. */
  static long dedicatedSegmentBytes(long payloadBytes) {
    return SegmentHeaderLayout.HEADER_BYTES + blockBytes(payloadBytes);
  }

  /** Offset of the region header in a dedicated segment. */
  static long dedicatedHeaderOffset() {
    return SegmentHeaderLayout.HEADER_BYTES;
  }
}

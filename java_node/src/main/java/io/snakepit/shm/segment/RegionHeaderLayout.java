package io.snakepit.shm.segment;

import io.snakepit.shm.platform.Mapping;

/**
 * The region header: 64 bytes immediately before every payload (payload offset − 64).
 * See docs/MEMORY_LAYOUT.md. All integers little-endian.
 *
 * <pre>
 *  0      4      6      8              16             24             32
 *  +------+------+------+--------------+--------------+--------------+
 *  |magic |layout|state | region_id    | generation   | payload_bytes|
 *  | u32  | u16  | u16  | u64          | u64          | u64          |
 *  +------+------+------+--------------+--------------+--------------+
 *  32             40     44     48             56             64
 *  +--------------+------+------+--------------+--------------+
 *  |payload_offset|flags |rsvd  | created_ms   | reserved     |
 *  +--------------+------+------+--------------+--------------+
 * </pre>
 *
 * The first eight bytes (magic, layout, state) are written together with a release store
 * after every other field, so a reader that sees {@code state = LIVE} sees the rest.
 */
public final class RegionHeaderLayout {
  /** ASCII "SNKR" read as a little-endian u32. */
  public static final int MAGIC = 0x524B4E53;
  public static final int LAYOUT_VERSION = 1;
  public static final int HEADER_BYTES = 64;
  /** Payload offsets are multiples of this. */
  public static final int ALIGNMENT_BYTES = 64;

  public static final int STATE_LIVE = 1;
  public static final int STATE_FREED = 2;
  public static final int STATE_INVALID = 3;

  public static final int FLAG_SENSITIVE = 1;

  public static final int MAGIC_OFFSET = 0;
  public static final int LAYOUT_VERSION_OFFSET = MAGIC_OFFSET + 4;
  public static final int STATE_OFFSET = LAYOUT_VERSION_OFFSET + 2;
  public static final int REGION_ID_OFFSET = STATE_OFFSET + 2;
  public static final int GENERATION_OFFSET = REGION_ID_OFFSET + 8;
  public static final int PAYLOAD_BYTES_OFFSET = GENERATION_OFFSET + 8;
  public static final int PAYLOAD_OFFSET_OFFSET = PAYLOAD_BYTES_OFFSET + 8;
  public static final int FLAGS_OFFSET = PAYLOAD_OFFSET_OFFSET + 8;
  public static final int CREATED_MS_OFFSET = FLAGS_OFFSET + 8;
  public static final int RESERVED_OFFSET = CREATED_MS_OFFSET + 8;

  private RegionHeaderLayout() {}

  /** The facts a region header holds. */
  public record Header(int state, long regionId, long generation, long payloadBytes, long payloadOffset,
      int flags, long createdMs) {}

  /** Rounds a byte count up to the alignment. */
  public static long alignUp(long bytes) {
    return (bytes + ALIGNMENT_BYTES - 1) & -ALIGNMENT_BYTES;
  }

  /**
   * Writes a live header at {@code headerOffset} (relative to the mapping), publishing
   * it last with a release store.
   */
  public static void writeLive(Mapping m, long headerOffset, long regionId, long generation,
      long payloadBytes, long payloadOffset, int flags, long createdMs) {
    m.putLong(headerOffset + REGION_ID_OFFSET, regionId);
    m.putLong(headerOffset + GENERATION_OFFSET, generation);
    m.putLong(headerOffset + PAYLOAD_BYTES_OFFSET, payloadBytes);
    m.putLong(headerOffset + PAYLOAD_OFFSET_OFFSET, payloadOffset);
    m.putInt(headerOffset + FLAGS_OFFSET, flags);
    m.putInt(headerOffset + FLAGS_OFFSET + 4, 0);
    m.putLong(headerOffset + CREATED_MS_OFFSET, createdMs);
    m.putLong(headerOffset + RESERVED_OFFSET, 0L);
    m.putLongRelease(headerOffset + MAGIC_OFFSET, firstWord(STATE_LIVE));
  }

  /** Changes the state (freed or invalid), keeping every other field. */
  public static void writeState(Mapping m, long headerOffset, int state) {
    m.putLongRelease(headerOffset + MAGIC_OFFSET, firstWord(state));
  }

  /** Reads the header at {@code headerOffset}, or null when its magic or layout is not ours. */
  public static Header read(Mapping m, long headerOffset) {
    long first = m.getLongAcquire(headerOffset + MAGIC_OFFSET);
    if ((int) first != MAGIC || ((first >>> 32) & 0xFFFF) != LAYOUT_VERSION) {
      return null;
    }
    return new Header((int) (first >>> 48),
        m.getLong(headerOffset + REGION_ID_OFFSET),
        m.getLong(headerOffset + GENERATION_OFFSET),
        m.getLong(headerOffset + PAYLOAD_BYTES_OFFSET),
        m.getLong(headerOffset + PAYLOAD_OFFSET_OFFSET),
        m.getInt(headerOffset + FLAGS_OFFSET),
        m.getLong(headerOffset + CREATED_MS_OFFSET));
  }

  private static long firstWord(int state) {
    return (MAGIC & 0xFFFFFFFFL) | ((long) LAYOUT_VERSION << 32) | ((long) state << 48);
  }
}

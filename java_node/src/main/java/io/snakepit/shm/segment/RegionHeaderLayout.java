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
 *  32             40     44     48             56     60     64
 *  +--------------+------+------+--------------+------+------+
 *  |payload_offset|flags |rsvd  | created_ms   |crc32 | seq  |
 *  +--------------+------+------+--------------+------+------+
 * </pre>
 *
 * The first eight bytes (magic, layout, state) are written together with a release store
 * after every other field, so a reader that sees {@code state = LIVE} sees the rest. The
 * fields from region_id to created_ms never change after publication and carry a CRC-32
 * (offset 56), which readers check.
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
  public static final int CRC_OFFSET = CREATED_MS_OFFSET + 8;
  /** The seqlock counter of docs/SYNC.md (u32; even: stable, odd: a write in progress). */
  public static final int WRITE_SEQ_OFFSET = CRC_OFFSET + 4;
  /** The CRC-32 covers {@code [REGION_ID_OFFSET, CRC_OFFSET)}: the fields fixed at publication. */
  public static final int CRC_FROM = REGION_ID_OFFSET;

  private RegionHeaderLayout() {}

  /** The facts a region header holds; {@code crcValid} false when its CRC-32 does not match. */
  public record Header(int state, long regionId, long generation, long payloadBytes, long payloadOffset,
      int flags, long createdMs, boolean crcValid) {}

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
    java.nio.ByteBuffer b = java.nio.ByteBuffer.allocate(HEADER_BYTES).order(java.nio.ByteOrder.LITTLE_ENDIAN);
    b.putLong(REGION_ID_OFFSET, regionId);
    b.putLong(GENERATION_OFFSET, generation);
    b.putLong(PAYLOAD_BYTES_OFFSET, payloadBytes);
    b.putLong(PAYLOAD_OFFSET_OFFSET, payloadOffset);
    b.putInt(FLAGS_OFFSET, flags);
    b.putLong(CREATED_MS_OFFSET, createdMs);
    b.putInt(CRC_OFFSET, crc(b.array()));
    b.putInt(WRITE_SEQ_OFFSET, 0);
    m.putBytes(headerOffset + CRC_FROM, b.array(), CRC_FROM, HEADER_BYTES - CRC_FROM);
    m.putLongRelease(headerOffset + MAGIC_OFFSET, firstWord(STATE_LIVE));
  }

  /** CRC-32 (zlib) of {@code [CRC_FROM, CRC_OFFSET)} of a header image. */
  static int crc(byte[] header) {
    java.util.zip.CRC32 c = new java.util.zip.CRC32();
    c.update(header, CRC_FROM, CRC_OFFSET - CRC_FROM);
    return (int) c.getValue();
  }

  /** Changes the state (freed or invalid), keeping every other field. */
  public static void writeState(Mapping m, long headerOffset, int state) {
    m.putLongRelease(headerOffset + MAGIC_OFFSET, firstWord(state));
  }

  /**
   * Reads the header at {@code headerOffset}, or null when its magic or layout is not
   * ours. {@link Header#crcValid()} says whether the fixed fields match their CRC-32.
   */
  public static Header read(Mapping m, long headerOffset) {
    long first = m.getLongAcquire(headerOffset + MAGIC_OFFSET);
    if ((int) first != MAGIC || ((first >>> 32) & 0xFFFF) != LAYOUT_VERSION) {
      return null;
    }
    byte[] image = new byte[HEADER_BYTES];
    m.getBytes(headerOffset, image, 0, HEADER_BYTES);
    java.nio.ByteBuffer b = java.nio.ByteBuffer.wrap(image).order(java.nio.ByteOrder.LITTLE_ENDIAN);
    return new Header((int) (first >>> 48),
        b.getLong(REGION_ID_OFFSET),
        b.getLong(GENERATION_OFFSET),
        b.getLong(PAYLOAD_BYTES_OFFSET),
        b.getLong(PAYLOAD_OFFSET_OFFSET),
        b.getInt(FLAGS_OFFSET),
        b.getLong(CREATED_MS_OFFSET),
        b.getInt(CRC_OFFSET) == crc(image));
  }

  /**
   * Reads the header whose first byte is at {@code b}'s absolute index {@code at} (a copy
   * read from the file, e.g. by pread), or null when its magic or layout is not ours.
   * Used by tools that read segment files without mapping them.
   */
  public static Header read(java.nio.ByteBuffer b, int at) {
    b = b.duplicate().order(java.nio.ByteOrder.LITTLE_ENDIAN);
    if (at < 0 || at + HEADER_BYTES > b.limit() || b.getInt(at + MAGIC_OFFSET) != MAGIC
        || (b.getShort(at + LAYOUT_VERSION_OFFSET) & 0xFFFF) != LAYOUT_VERSION) {
      return null;
    }
    byte[] image = new byte[HEADER_BYTES];
    b.get(at, image);
    return new Header(b.getShort(at + STATE_OFFSET) & 0xFFFF,
        b.getLong(at + REGION_ID_OFFSET),
        b.getLong(at + GENERATION_OFFSET),
        b.getLong(at + PAYLOAD_BYTES_OFFSET),
        b.getLong(at + PAYLOAD_OFFSET_OFFSET),
        b.getInt(at + FLAGS_OFFSET),
        b.getLong(at + CREATED_MS_OFFSET),
        b.getInt(at + CRC_OFFSET) == crc(image));
  }

  private static long firstWord(int state) {
    return (MAGIC & 0xFFFFFFFFL) | ((long) LAYOUT_VERSION << 32) | ((long) state << 48);
  }
}

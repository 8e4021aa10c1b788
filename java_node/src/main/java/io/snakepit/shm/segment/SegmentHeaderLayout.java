package io.snakepit.shm.segment;

import io.snakepit.shm.platform.Mapping;
import java.nio.charset.StandardCharsets;

/**
 * The segment header: 256 bytes at offset 0 of every segment file. See
 * docs/MEMORY_LAYOUT.md. All integers little-endian.
 *
 * <pre>
 *  0        8        12       16               24       28       32
 *  +--------+--------+--------+----------------+--------+--------+
 *  | magic  | layout | header | segment_bytes  | kind   | flags  |
 *  | u64    | u32    | u32    | u64            | u32    | u32    |
 *  +--------+--------+--------+----------------+--------+--------+
 *  32               40               48               56               64
 *  +----------------+----------------+----------------+----------------+
 *  | created_ms     | manager_pid    | manager_start  | instance_id    |
 *  +----------------+----------------+----------------+----------------+
 *  64               80                               208    212       256
 *  +----------------+--------------------------------+------+---------+
 *  | boot_id (16)   | node_name (128, UTF-8, NUL pad)| crc32| zero    |
 *  +----------------+--------------------------------+------+---------+
 * </pre>
 *
 * The magic is written last with a release store; readers reject any other layout version
 * and a header whose CRC-32 (offset 208, over bytes 8..208) does not match.
 */
public final class SegmentHeaderLayout {
  /** ASCII "SNKSEG01" read as a little-endian u64. */
  public static final long MAGIC = 0x3130474553_4B4E53L;
  public static final int LAYOUT_VERSION = 1;
  public static final int HEADER_BYTES = 256;

  public static final int KIND_POOLED = 1;
  public static final int KIND_DEDICATED = 2;

  public static final int MAGIC_OFFSET = 0;
  public static final int LAYOUT_VERSION_OFFSET = MAGIC_OFFSET + 8;
  public static final int HEADER_BYTES_OFFSET = LAYOUT_VERSION_OFFSET + 4;
  public static final int SEGMENT_BYTES_OFFSET = HEADER_BYTES_OFFSET + 4;
  public static final int KIND_OFFSET = SEGMENT_BYTES_OFFSET + 8;
  public static final int FLAGS_OFFSET = KIND_OFFSET + 4;
  public static final int CREATED_MS_OFFSET = FLAGS_OFFSET + 4;
  public static final int MANAGER_PID_OFFSET = CREATED_MS_OFFSET + 8;
  public static final int MANAGER_START_TICKS_OFFSET = MANAGER_PID_OFFSET + 8;
  public static final int INSTANCE_ID_OFFSET = MANAGER_START_TICKS_OFFSET + 8;
  public static final int BOOT_ID_OFFSET = INSTANCE_ID_OFFSET + 8;
  public static final int NODE_NAME_OFFSET = BOOT_ID_OFFSET + 16;
  public static final int NODE_NAME_BYTES = 128;
  public static final int CRC_OFFSET = NODE_NAME_OFFSET + NODE_NAME_BYTES;
  public static final int RESERVED_OFFSET = CRC_OFFSET + 4;
  /** The CRC-32 covers {@code [CRC_FROM, CRC_OFFSET)}: everything after the magic. */
  public static final int CRC_FROM = LAYOUT_VERSION_OFFSET;

  private SegmentHeaderLayout() {}

  /** The facts a header holds. */
  public record Header(int kind, long segmentBytes, long createdMs, ManagerInstance owner) {}

  /** Writes a complete header with its CRC; the magic goes last, with a release store. */
  public static void write(Mapping m, Header h) {
    java.nio.ByteBuffer b = java.nio.ByteBuffer.allocate(HEADER_BYTES).order(java.nio.ByteOrder.LITTLE_ENDIAN);
    b.putInt(LAYOUT_VERSION_OFFSET, LAYOUT_VERSION);
    b.putInt(HEADER_BYTES_OFFSET, HEADER_BYTES);
    b.putLong(SEGMENT_BYTES_OFFSET, h.segmentBytes());
    b.putInt(KIND_OFFSET, h.kind());
    b.putInt(FLAGS_OFFSET, 0);
    b.putLong(CREATED_MS_OFFSET, h.createdMs());
    ManagerInstance o = h.owner();
    b.putLong(MANAGER_PID_OFFSET, o.osPid());
    b.putLong(MANAGER_START_TICKS_OFFSET, o.startTicks());
    b.putLong(INSTANCE_ID_OFFSET, o.instanceId());
    b.put(BOOT_ID_OFFSET, o.bootId());
    byte[] utf8 = o.nodeName().getBytes(StandardCharsets.UTF_8);
    b.put(NODE_NAME_OFFSET, utf8, 0, Math.min(utf8.length, NODE_NAME_BYTES - 1));
    b.putInt(CRC_OFFSET, crc(b.array()));
    m.putBytes(CRC_FROM, b.array(), CRC_FROM, HEADER_BYTES - CRC_FROM);
    m.putLongRelease(MAGIC_OFFSET, MAGIC);
  }

  /** CRC-32 (zlib) of {@code [CRC_FROM, CRC_OFFSET)} of a header image. */
  static int crc(byte[] header) {
    java.util.zip.CRC32 c = new java.util.zip.CRC32();
    c.update(header, CRC_FROM, CRC_OFFSET - CRC_FROM);
    return (int) c.getValue();
  }

  /**
   * Reads a header, or returns null when the magic, layout version or CRC is not right
   * (a segment still being created, a corrupt header, or another program's file).
   */
  public static Header read(Mapping m) {
    byte[] image = new byte[HEADER_BYTES];
    if (m.getLongAcquire(MAGIC_OFFSET) != MAGIC) {
      return null;
    }
    m.getBytes(0, image, 0, HEADER_BYTES);
    return read(java.nio.ByteBuffer.wrap(image));
  }

  /**
   * Reads a header from the first {@link #HEADER_BYTES} of a segment read into
   * {@code b} (little-endian, position 0), or returns null when the magic or layout
   * version is not ours.
   */
  public static Header read(java.nio.ByteBuffer b) {
    b = b.duplicate().order(java.nio.ByteOrder.LITTLE_ENDIAN);
    if (b.limit() < HEADER_BYTES || b.getLong(MAGIC_OFFSET) != MAGIC || b.getInt(LAYOUT_VERSION_OFFSET) != LAYOUT_VERSION) {
      return null;
    }
    byte[] image = new byte[HEADER_BYTES];
    b.get(0, image);
    if (b.getInt(CRC_OFFSET) != crc(image)) {
      return null;
    }
    byte[] boot = new byte[16];
    b.get(BOOT_ID_OFFSET, boot);
    byte[] name = new byte[NODE_NAME_BYTES];
    b.get(NODE_NAME_OFFSET, name);
    int len = 0;
    while (len < name.length && name[len] != 0) {
      len++;
    }
    ManagerInstance owner = new ManagerInstance(new String(name, 0, len, StandardCharsets.UTF_8),
        b.getLong(MANAGER_PID_OFFSET), b.getLong(MANAGER_START_TICKS_OFFSET), b.getLong(INSTANCE_ID_OFFSET), boot);
    return new Header(b.getInt(KIND_OFFSET), b.getLong(SEGMENT_BYTES_OFFSET), b.getLong(CREATED_MS_OFFSET), owner);
  }
}

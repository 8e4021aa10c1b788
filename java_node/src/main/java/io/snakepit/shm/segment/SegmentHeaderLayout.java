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
 *  64               80                               208              256
 *  +----------------+--------------------------------+----------------+
 *  | boot_id (16)   | node_name (128, UTF-8, NUL pad)| reserved, zero |
 *  +----------------+--------------------------------+----------------+
 * </pre>
 *
 * The magic is written last with a release store; readers reject any other layout version.
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
  public static final int RESERVED_OFFSET = NODE_NAME_OFFSET + NODE_NAME_BYTES;

  private SegmentHeaderLayout() {}

  /** The facts a header holds. */
  public record Header(int kind, long segmentBytes, long createdMs, ManagerInstance owner) {}

  /** Writes a complete header; the magic goes last, with a release store. */
  public static void write(Mapping m, Header h) {
    m.putInt(LAYOUT_VERSION_OFFSET, LAYOUT_VERSION);
    m.putInt(HEADER_BYTES_OFFSET, HEADER_BYTES);
    m.putLong(SEGMENT_BYTES_OFFSET, h.segmentBytes());
    m.putInt(KIND_OFFSET, h.kind());
    m.putInt(FLAGS_OFFSET, 0);
    m.putLong(CREATED_MS_OFFSET, h.createdMs());
    ManagerInstance o = h.owner();
    m.putLong(MANAGER_PID_OFFSET, o.osPid());
    m.putLong(MANAGER_START_TICKS_OFFSET, o.startTicks());
    m.putLong(INSTANCE_ID_OFFSET, o.instanceId());
    byte[] boot = o.bootId();
    m.putBytes(BOOT_ID_OFFSET, boot, 0, boot.length);
    byte[] name = new byte[NODE_NAME_BYTES];
    byte[] utf8 = o.nodeName().getBytes(StandardCharsets.UTF_8);
    System.arraycopy(utf8, 0, name, 0, Math.min(utf8.length, NODE_NAME_BYTES - 1));
    m.putBytes(NODE_NAME_OFFSET, name, 0, name.length);
    m.fill(RESERVED_OFFSET, HEADER_BYTES - RESERVED_OFFSET, (byte) 0);
    m.putLongRelease(MAGIC_OFFSET, MAGIC);
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

  /**
   * Reads a header, or returns null when the magic or layout version is not ours (a
   * segment still being created, or another program's file).
   */
  public static Header read(Mapping m) {
    if (m.getLongAcquire(MAGIC_OFFSET) != MAGIC || m.getInt(LAYOUT_VERSION_OFFSET) != LAYOUT_VERSION) {
      return null;
    }
    byte[] boot = new byte[16];
    m.getBytes(BOOT_ID_OFFSET, boot, 0, 16);
    byte[] name = new byte[NODE_NAME_BYTES];
    m.getBytes(NODE_NAME_OFFSET, name, 0, NODE_NAME_BYTES);
    int len = 0;
    while (len < name.length && name[len] != 0) {
      len++;
    }
    ManagerInstance owner = new ManagerInstance(
        new String(name, 0, len, StandardCharsets.UTF_8),
        m.getLong(MANAGER_PID_OFFSET),
        m.getLong(MANAGER_START_TICKS_OFFSET),
        m.getLong(INSTANCE_ID_OFFSET),
        boot);
    return new Header(m.getInt(KIND_OFFSET), m.getLong(SEGMENT_BYTES_OFFSET), m.getLong(CREATED_MS_OFFSET), owner);
  }
}

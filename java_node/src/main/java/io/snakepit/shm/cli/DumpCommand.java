package io.snakepit.shm.cli;

import io.snakepit.shm.platform.OsFamily;
import io.snakepit.shm.platform.Platforms;
import io.snakepit.shm.segment.RegionHeaderLayout;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Supplier;

/**
 * {@code snakepit-shm dump ID}: a range of a region's payload as hex and printable text.
 * The node says where the region lies ({@code info}: path and payload offset); the bytes
 * are then read from the segment file directly (pread: the CLI runs as the node's user),
 * not through the node's {@code read} call, so any region can be dumped, whoever holds it.
 * The region header is checked against the node's answer first, so a region freed or moved
 * in between is not dumped. At most {@link #MAX_BYTES} per call.
 */
final class DumpCommand {
  static final int MAX_BYTES = 64 * 1024;
  static final int DEFAULT_BYTES = 256;

  static final Flag OFFSET = new Flag("--offset", "N", "0", "first payload byte to show");
  static final Flag LENGTH = new Flag("--length", "N", DEFAULT_BYTES + ", or up to the end of the payload",
      "how many bytes to show, at most " + MAX_BYTES + "; the range must lie inside the payload");
  static final Flag TENANT = new Flag("--tenant", "T", "none", "the region's tenant (for a region of a tenant, "
      + "unless --operator-key-file is given)");
  static final Flag OFFLINE = new Flag("--offline", null, "ask the node",
      "find the region by reading the segment headers in --shm-dir instead (no node needs to run)");

  static final CommandLine.Spec SPEC = new CommandLine.Spec("dump", "ID",
      """
      Prints a range of a region's payload as hex and printable text (non-printable bytes as
      '.'). The bytes are read from the segment file itself, without taking the region's write
      lock: a writer active at the same time may show half-written data. Linux only: on macOS
      and Windows segments are not files.""",
      CommonOptions.nodeFlags(OFFSET, LENGTH, TENANT, CommonOptions.OPERATOR_KEY_FILE, OFFLINE,
          CommonOptions.SHM_DIR), 1, 1,
      """
      examples:
        snakepit-shm dump 0000002a5c1e8f03                          # the first 256 bytes
        snakepit-shm dump 0000002a5c1e8f03 --offset 4096 --length 64 --json""");

  private DumpCommand() {}

  /** Where a region's payload lies in its file. */
  record Target(String id, long generation, Path path, String segment, long payloadOffset, long size,
      boolean sensitive, boolean mustBeLive) {}

  static int run(List<String> args, PrintStream out) throws UsageException {
    return run(args, out, Platforms::currentFamily);
  }

  /**
   * {@link #run(List, PrintStream)} with the OS family chosen by {@code os} (tests inject
   * one), asked before anything else: the bytes are read from the segment file, which
   * exists on Linux only.
   */
  static int run(List<String> args, PrintStream out, Supplier<OsFamily> os) throws UsageException {
    CommandLine line = CommandLine.parseOrHelp(SPEC, args, out);
    if (line == null) {
      return 0;
    }
    CommonOptions.requireSegmentFiles(os.get(), "dump", "read the region through the node instead ({:read, id,"
        + " offset, length, opts}, e.g. SnakepitShm.read_consistent)");
    CommonOptions common = new CommonOptions(line);
    String id = ShowCommand.regionId(line.positional().get(0));
    long offset = line.longValue(OFFSET.name(), 0, 0, Long.MAX_VALUE);
    Long length = line.has(LENGTH.name()) ? line.longValue(LENGTH.name(), 0, 1, MAX_BYTES) : null;
    Target target;
    if (line.has(OFFLINE.name())) {
      line.refuse(TENANT.name(), true, "needs a node (drop --offline)");
      line.refuse(CommonOptions.OPERATOR_KEY_FILE.name(), true, "needs a node (drop --offline)");
      target = offlineTarget(common.shmDir(), id);
    } else {
      try (NodeClient client = common.connect()) {
        Map<String, Object> info = ShowCommand.info(client, id, line.value(TENANT.name(), null),
            common.operatorKey(), "dump " + id);
        target = new Target(id, TermValues.longOf(info, "generation", -1), Path.of(TermValues.text(info, "path")),
            TermValues.text(info, "segment"), TermValues.longOf(info, "offset", -1),
            TermValues.longOf(info, "size", -1), Boolean.TRUE.equals(info.get("sensitive")),
            "live".equals(info.get("state")));
      }
    }
    long len = range(target, offset, length);
    byte[] bytes = read(target, offset, (int) len);
    if (common.json()) {
      Map<String, Object> doc = new LinkedHashMap<>();
      doc.put("id", target.id());
      doc.put("generation", target.generation());
      doc.put("segment", target.segment());
      doc.put("path", target.path().toString());
      doc.put("size", target.size());
      doc.put("offset", offset);
      doc.put("length", (long) bytes.length);
      doc.put("file_offset", target.payloadOffset() + offset);
      doc.put("hex", HexFormat.of().formatHex(bytes));
      doc.put("text", printable(bytes, 0, bytes.length));
      out.println(Json.write(doc));
      return 0;
    }
    out.println("region " + target.id() + " (generation " + target.generation() + "), bytes " + offset + ".."
        + (offset + bytes.length) + " of " + target.size() + ", from " + target.path() + " at file offset "
        + (target.payloadOffset() + offset) + (target.sensitive() ? " (a sensitive region)" : ""));
    out.print(hexDump(bytes, offset));
    return 0;
  }

  /** The length to show: checked against the payload; the default is 256 bytes or up to its end. */
  static long range(Target t, long offset, Long length) throws UsageException {
    if (offset >= t.size()) {
      throw new UsageException(UsageException.BAD_ARGUMENTS, "--offset " + offset + " is outside the payload of "
          + t.id() + " (" + t.size() + " bytes: offsets 0 to " + (t.size() - 1) + ")");
    }
    if (length == null) {
      return Math.min(DEFAULT_BYTES, t.size() - offset);
    }
    if (offset + length > t.size()) {
      throw new UsageException(UsageException.BAD_ARGUMENTS, "bytes " + offset + ".." + (offset + length)
          + " are outside the payload of " + t.id() + " (" + t.size() + " bytes); at most --length "
          + (t.size() - offset) + " from --offset " + offset);
    }
    return length;
  }

  /** Checks the region header against {@code t}, then reads the bytes. */
  static byte[] read(Target t, long offset, int length) throws UsageException {
    long headerAt = t.payloadOffset() - RegionHeaderLayout.HEADER_BYTES;
    try (FileChannel ch = FileChannel.open(t.path(), StandardOpenOption.READ, LinkOption.NOFOLLOW_LINKS)) {
      ByteBuffer hb = ByteBuffer.allocate(RegionHeaderLayout.HEADER_BYTES);
      ShmDirScan.readFully(ch, hb, headerAt);
      RegionHeaderLayout.Header h = RegionHeaderLayout.read(hb, 0);
      String problem = h == null ? "no region header at file offset " + headerAt
          : !h.crcValid() ? "its header's CRC does not match (a corrupt header)"
          : !ShmDirScan.idText(h.regionId()).equals(t.id()) || h.generation() != t.generation()
              ? "the header there belongs to region " + ShmDirScan.idText(h.regionId()) + " generation "
                  + h.generation() + " (freed and reused?)"
          : h.payloadBytes() != t.size() || h.payloadOffset() != t.payloadOffset()
              ? "the header records size " + h.payloadBytes() + " at offset " + h.payloadOffset()
          : t.mustBeLive() && h.state() == RegionHeaderLayout.STATE_FREED ? "the region was freed meanwhile" : null;
      if (problem != null) {
        throw new UsageException(UsageException.ENVIRONMENT, "dump " + t.id() + ": " + t.path() + ": " + problem
            + "; nothing dumped");
      }
      ByteBuffer b = ByteBuffer.allocate(length);
      int n = ShmDirScan.readFully(ch, b, t.payloadOffset() + offset);
      if (n < length) {
        throw new UsageException(UsageException.ENVIRONMENT, "dump " + t.id() + ": " + t.path() + " ends after "
            + n + " of " + length + " bytes");
      }
      return b.array();
    } catch (IOException e) {
      throw new UsageException(UsageException.ENVIRONMENT, "dump " + t.id() + ": cannot read " + t.path() + ": "
          + e);
    }
  }

  private static Target offlineTarget(Path dir, String id) throws UsageException {
    if (!Files.isDirectory(dir)) {
      throw new UsageException(UsageException.ENVIRONMENT, "shm dir " + dir + " does not exist or is not a directory");
    }
    ShmDirScan.Result scan = new ShmDirScan(Platforms.forCurrentOs(), dir).scan(true, Progress.onTerminal("read"));
    ShmDirScan.Region found = null;
    for (ShmDirScan.Region r : scan.regions()) {
      if (r.id().equals(id) && (found == null || !r.state().equals("freed"))) {
        found = r;
      }
    }
    if (found == null) {
      throw new UsageException(UsageException.ENVIRONMENT, "dump " + id + ": no region header with this id in the "
          + scan.segments().size() + " segment file(s) of " + dir);
    }
    return new Target(found.id(), found.generation(), found.path(), found.segment(), found.offset(), found.size(),
        found.sensitive(), false);
  }

  /** Lines of 16 bytes: payload offset, hex in two groups of 8, printable text. */
  static String hexDump(byte[] bytes, long firstOffset) {
    StringBuilder sb = new StringBuilder();
    for (int i = 0; i < bytes.length; i += 16) {
      int n = Math.min(16, bytes.length - i);
      sb.append(String.format("%08x  ", firstOffset + i));
      for (int j = 0; j < 16; j++) {
        if (j < n) {
          sb.append(String.format("%02x ", bytes[i + j] & 0xFF));
        } else {
          sb.append("   ");
        }
        if (j == 7) {
          sb.append(' ');
        }
      }
      sb.append(" |").append(printable(bytes, i, n)).append("|\n");
    }
    return sb.toString();
  }

  /** Bytes as ASCII, '.' for anything not printable. */
  static String printable(byte[] bytes, int from, int length) {
    StringBuilder sb = new StringBuilder(length);
    for (int i = from; i < from + length; i++) {
      int c = bytes[i] & 0xFF;
      sb.append(c >= 0x20 && c < 0x7F ? (char) c : '.');
    }
    return sb.toString();
  }
}

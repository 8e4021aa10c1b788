package io.snakepit.shm.cli;

import io.snakepit.shm.platform.PlatformException;
import io.snakepit.shm.platform.SharedMemoryPlatform;
import io.snakepit.shm.segment.ManagerInstance;
import io.snakepit.shm.segment.RegionHeaderLayout;
import io.snakepit.shm.segment.SegmentHeaderLayout;
import io.snakepit.shm.segment.SegmentNames;
import io.snakepit.shm.segment.StaleSweeper;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Reads an shm dir without a node (MEMORY_LAYOUT.md): the segment header of every
 * segment file, whether its manager is alive (the stale sweep's test: same boot, a process
 * with that pid and start time), and the region headers inside.
 *
 * <p>Files are read with pread (FileChannel positional reads), never mapped: reading a hole
 * of a tmpfs file returns zeros without allocating memory, where a mapping would fault
 * pages in. Region headers are found as the manager lays them out: in a dedicated segment
 * at offset 256; in a pooled segment at 64-byte-aligned positions from 256 on, where a
 * header counts when its magic and layout are right, its CRC-32 matches and its recorded
 * payload offset is its own position + 64. The walk skips each found region's payload, so
 * bytes inside a payload are not mistaken for headers. A header with the right magic,
 * layout and payload offset but a wrong CRC is reported as corrupt.
 */
final class ShmDirScan {
  /** A headerless file younger than this may be a segment being created. */
  static final long CREATION_GRACE_MS = 2000;
  private static final int CHUNK_BYTES = 4 << 20;

  /** A segment's manager and whether it still runs. */
  record Owner(String node, long pid, String instance, boolean alive, String deathReason) {
    String describe() {
      return node + " (pid " + pid + (alive ? ", alive" : ", dead: " + deathReason) + ")";
    }
  }

  /** A region header found in a segment file. */
  record Region(String id, long generation, long size, long offset, String state, boolean sensitive,
      long createdMs, String segment, Path path) {}

  /**
   * One segment file. {@code header} and {@code owner} are null when the file has no valid
   * segment header; {@code corruptHeaderOffsets} lists region headers with a wrong CRC.
   */
  record Segment(String fileName, Path path, long fileBytes, long modifiedMs, SegmentHeaderLayout.Header header,
      Owner owner, List<Region> regions, List<Long> corruptHeaderOffsets, String readError) {
    String kind() {
      if (header == null) {
        return "-";
      }
      return switch (header.kind()) {
        case SegmentHeaderLayout.KIND_POOLED -> "pooled";
        case SegmentHeaderLayout.KIND_DEDICATED -> "dedicated";
        default -> "kind " + header.kind();
      };
    }

    String shmName() {
      return SegmentNames.shmName(fileName);
    }
  }

  /** What a scan found. {@code totalBytes}/{@code availableBytes} are -1 when statvfs failed. */
  record Result(Path dir, List<Segment> segments, long totalBytes, long availableBytes, long durationMs) {
    List<Region> regions() {
      List<Region> out = new ArrayList<>();
      for (Segment s : segments) {
        out.addAll(s.regions());
      }
      return out;
    }
  }

  private final SharedMemoryPlatform platform;
  private final Path dir;
  private final StaleSweeper liveness;
  private final byte[] bootId;
  private final Map<ManagerInstance, Owner> owners = new HashMap<>();

  ShmDirScan(SharedMemoryPlatform platform, Path dir) {
    this.platform = platform;
    this.dir = dir;
    long pid = platform.currentPid();
    // this process owns no segment: an instance that matches none
    this.liveness = new StaleSweeper(platform, dir, new ManagerInstance("snakepit-shm-cli", pid,
        platform.processStartTicks(pid), 0, platform.bootId()));
    this.bootId = platform.bootId();
  }

  /** The segment files of the dir (names {@code snk} + 22 base32 characters), sorted. */
  static List<Path> segmentFiles(Path dir) throws UsageException {
    List<Path> out = new ArrayList<>();
    try (DirectoryStream<Path> ds = Files.newDirectoryStream(dir)) {
      for (Path p : ds) {
        if (SegmentNames.isSegmentFileName(p.getFileName().toString())) {
          out.add(p);
        }
      }
    } catch (IOException e) {
      throw new UsageException(UsageException.ENVIRONMENT, "cannot list the shm dir " + dir + ": " + e);
    }
    out.sort(null);
    return out;
  }

  /** Scans every segment file; {@code walkRegions}: read region headers too. */
  Result scan(boolean walkRegions, Progress progress) throws UsageException {
    long start = System.nanoTime();
    List<Path> files = segmentFiles(dir);
    List<Segment> segments = new ArrayList<>(files.size());
    ByteBuffer chunk = walkRegions ? ByteBuffer.allocate(CHUNK_BYTES).order(ByteOrder.LITTLE_ENDIAN) : null;
    for (int i = 0; i < files.size(); i++) {
      progress.update(i, files.size(), "segments");
      segments.add(segment(files.get(i), walkRegions, chunk));
    }
    progress.done();
    long total = -1;
    long available = -1;
    try {
      SharedMemoryPlatform.FsStat fs = platform.statFs(dir);
      total = fs.totalBytes();
      available = fs.availableBytes();
    } catch (PlatformException e) {
      // reported as unknown
    }
    return new Result(dir, segments, total, available, (System.nanoTime() - start) / 1_000_000);
  }

  /** One file: its header, owner and (with {@code walkRegions}) regions. Never throws. */
  Segment segment(Path p, boolean walkRegions, ByteBuffer chunk) {
    String name = p.getFileName().toString();
    long size = -1;
    long mtime = 0;
    try {
      size = Files.size(p);
      mtime = Files.getLastModifiedTime(p, LinkOption.NOFOLLOW_LINKS).toMillis();
    } catch (IOException e) {
      return new Segment(name, p, size, mtime, null, null, List.of(), List.of(), e.toString());
    }
    try (FileChannel ch = FileChannel.open(p, StandardOpenOption.READ, LinkOption.NOFOLLOW_LINKS)) {
      ByteBuffer head = ByteBuffer.allocate(SegmentHeaderLayout.HEADER_BYTES);
      readFully(ch, head, 0);
      SegmentHeaderLayout.Header h = SegmentHeaderLayout.read(head);
      if (h == null) {
        return new Segment(name, p, size, mtime, null, null, List.of(), List.of(), null);
      }
      Owner owner = owner(h.owner());
      List<Region> regions = new ArrayList<>();
      List<Long> corrupt = new ArrayList<>();
      if (walkRegions) {
        walk(ch, h.kind(), Math.min(size, h.segmentBytes()), p, regions, corrupt,
            chunk != null ? chunk : ByteBuffer.allocate(CHUNK_BYTES));
      }
      return new Segment(name, p, size, mtime, h, owner, regions, corrupt, null);
    } catch (IOException e) {
      return new Segment(name, p, size, mtime, null, null, List.of(), List.of(), e.toString());
    }
  }

  Owner owner(ManagerInstance m) {
    return owners.computeIfAbsent(m, k -> {
      String death = liveness.deathOf(k, bootId);
      return new Owner(k.nodeName(), k.osPid(), Long.toHexString(k.instanceId()), death == null, death);
    });
  }

  /**
   * Collects the region headers of one segment file of {@code kind}, whose meaningful
   * bytes end at {@code endBytes}, into {@code out}; corrupt headers' offsets into {@code corrupt}.
   */
  static void walk(FileChannel ch, int kind, long endBytes, Path path, List<Region> out, List<Long> corrupt,
      ByteBuffer chunk) throws IOException {
    String segment = SegmentNames.shmName(path.getFileName().toString());
    long first = SegmentHeaderLayout.HEADER_BYTES;
    chunk.order(ByteOrder.LITTLE_ENDIAN);
    if (kind == SegmentHeaderLayout.KIND_DEDICATED) {
      ByteBuffer b = ByteBuffer.allocate(RegionHeaderLayout.HEADER_BYTES);
      if (readFully(ch, b, first) == RegionHeaderLayout.HEADER_BYTES) {
        consider(RegionHeaderLayout.read(b, 0), first, segment, path, out, corrupt);
      }
      return;
    }
    if (kind != SegmentHeaderLayout.KIND_POOLED) {
      return;
    }
    long pos = first;
    while (pos + RegionHeaderLayout.HEADER_BYTES <= endBytes) {
      chunk.clear();
      long want = Math.min(chunk.capacity(), endBytes - pos) & -RegionHeaderLayout.HEADER_BYTES;
      chunk.limit((int) want);
      int n = readFully(ch, chunk, pos) & -RegionHeaderLayout.HEADER_BYTES;
      if (n <= 0) {
        return;
      }
      long next = pos + n;
      int at = 0;
      while (at + RegionHeaderLayout.HEADER_BYTES <= n) {
        long headerAt = pos + at;
        if (chunk.getInt(at) == RegionHeaderLayout.MAGIC) {
          RegionHeaderLayout.Header h = RegionHeaderLayout.read(chunk, at);
          if (consider(h, headerAt, segment, path, out, corrupt) && h.crcValid()) {
            long payload = Math.min(Math.max(h.payloadBytes(), 0), endBytes);
            long skipTo = headerAt + RegionHeaderLayout.HEADER_BYTES + RegionHeaderLayout.alignUp(payload);
            if (skipTo >= pos + n) {
              next = skipTo;
              break;
            }
            at = (int) (skipTo - pos);
            continue;
          }
        }
        at += RegionHeaderLayout.HEADER_BYTES;
      }
      pos = next;
    }
  }

  /** Adds a header whose payload offset matches its position; true when it did (or found it corrupt). */
  private static boolean consider(RegionHeaderLayout.Header h, long headerAt, String segment, Path path,
      List<Region> out, List<Long> corrupt) {
    if (h == null || h.payloadOffset() != headerAt + RegionHeaderLayout.HEADER_BYTES) {
      return false;
    }
    if (!h.crcValid()) {
      corrupt.add(headerAt);
      return true;
    }
    out.add(new Region(idText(h.regionId()), h.generation(), h.payloadBytes(), h.payloadOffset(),
        stateName(h.state()), (h.flags() & RegionHeaderLayout.FLAG_SENSITIVE) != 0, h.createdMs(), segment, path));
    return true;
  }

  /** The descriptor's id text of a region id: 16 lowercase hex digits. */
  static String idText(long id) {
    return HexFormat.of().toHexDigits(id);
  }

  /** {@code live}, {@code freed}, {@code invalid}, or {@code state N}. */
  static String stateName(int state) {
    return switch (state) {
      case RegionHeaderLayout.STATE_LIVE -> "live";
      case RegionHeaderLayout.STATE_FREED -> "freed";
      case RegionHeaderLayout.STATE_INVALID -> "invalid";
      default -> "state " + state;
    };
  }

  /** Reads the segment header of a file, or null when it has none (or cannot be read). */
  static SegmentHeaderLayout.Header readSegmentHeader(Path p) {
    try (FileChannel ch = FileChannel.open(p, StandardOpenOption.READ, LinkOption.NOFOLLOW_LINKS)) {
      ByteBuffer head = ByteBuffer.allocate(SegmentHeaderLayout.HEADER_BYTES);
      readFully(ch, head, 0);
      return SegmentHeaderLayout.read(head);
    } catch (IOException e) {
      return null;
    }
  }

  /** Reads the region header at {@code headerOffset} of a file, or null when there is none. */
  static RegionHeaderLayout.Header readRegionHeader(Path p, long headerOffset) throws IOException {
    try (FileChannel ch = FileChannel.open(p, StandardOpenOption.READ, LinkOption.NOFOLLOW_LINKS)) {
      ByteBuffer b = ByteBuffer.allocate(RegionHeaderLayout.HEADER_BYTES);
      if (readFully(ch, b, headerOffset) < RegionHeaderLayout.HEADER_BYTES) {
        return null;
      }
      return RegionHeaderLayout.read(b, 0);
    }
  }

  /** preads into {@code b} from {@code position} until it is full or the file ends; returns the bytes read. */
  static int readFully(FileChannel ch, ByteBuffer b, long position) throws IOException {
    int start = b.position();
    while (b.hasRemaining()) {
      int n = ch.read(b, position + b.position() - start);
      if (n < 0) {
        break;
      }
    }
    return b.position() - start;
  }

  /** Segments per owner, for summaries: owner description → [segments, bytes]. */
  static Map<Owner, long[]> byOwner(List<Segment> segments) {
    Map<Owner, long[]> out = new LinkedHashMap<>();
    for (Segment s : segments) {
      if (s.owner() != null) {
        long[] c = out.computeIfAbsent(s.owner(), k -> new long[2]);
        c[0]++;
        c[1] += Math.max(s.fileBytes(), 0);
      }
    }
    return out;
  }
}

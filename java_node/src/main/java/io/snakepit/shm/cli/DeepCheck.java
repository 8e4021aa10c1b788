package io.snakepit.shm.cli;

import io.snakepit.shm.segment.RegionHeaderLayout;
import io.snakepit.shm.segment.SegmentHeaderLayout;
import io.snakepit.shm.segment.SegmentNames;
import io.snakepit.shm.platform.Platforms;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * {@code health --deep}: checks the node's registry, the segment files' headers and the
 * shm dir against each other.
 *
 * <ul>
 *   <li>every segment the node uses ({@code stats}: bytes by segment, pooled segments; and
 *       the listed regions' segments) must exist with a valid header naming this node and
 *       its pid, of the right kind;
 *   <li>every region the node lists ({@code list}, every tenant with the operator key,
 *       else the visible ones) must have a region header at offset − 64 with a valid CRC and
 *       the same id, generation, size and offset, in the state the node reports;
 *   <li>every segment file in the shm dir that the node does not use must belong to
 *       another live manager: a file of a dead manager, one of this node that it does not
 *       know, or one without a valid header is reported.
 * </ul>
 *
 * A mismatch that may come from the node changing while it is checked (a region freed or
 * allocated meanwhile) is confirmed by asking the node again, and dropped when the node has
 * changed.
 */
final class DeepCheck {
  /** One disagreement between the node and the files. */
  record Mismatch(String kind, String where, String detail) {
    Map<String, Object> asMap() {
      Map<String, Object> m = new LinkedHashMap<>();
      m.put("kind", kind);
      m.put("where", where);
      m.put("detail", detail);
      return m;
    }
  }

  /** What a deep check found. */
  record Result(int segmentsChecked, int regionsChecked, long regionsOnNode, int otherManagerFiles,
      int changedMeanwhile, List<Mismatch> mismatches, List<String> notes, long durationMs) {
    Map<String, Object> asMap() {
      Map<String, Object> m = new LinkedHashMap<>();
      m.put("segments_checked", (long) segmentsChecked);
      m.put("regions_checked", (long) regionsChecked);
      m.put("regions_on_node", regionsOnNode);
      m.put("other_manager_files", (long) otherManagerFiles);
      m.put("changed_during_check", (long) changedMeanwhile);
      List<Object> list = new ArrayList<>();
      for (Mismatch x : mismatches) {
        list.add(x.asMap());
      }
      m.put("mismatches", list);
      m.put("notes", new ArrayList<Object>(notes));
      m.put("duration_ms", durationMs);
      return m;
    }
  }

  /** At most this many regions are listed and checked (a note says so when there are more). */
  static final long MAX_REGIONS = 100_000;

  private final NodeClient client;
  private final String operatorKey;
  private final Progress progress;
  private final List<Mismatch> mismatches = new ArrayList<>();
  private final List<String> notes = new ArrayList<>();
  private int changedMeanwhile;

  DeepCheck(NodeClient client, String operatorKey, Progress progress) {
    this.client = client;
    this.operatorKey = operatorKey;
    this.progress = progress;
  }

  Result run(Path shmDir) throws UsageException {
    long start = System.nanoTime();
    Map<String, Object> ping = TermValues.map(client.ok(NodeClient.atom("ping"), "ping"), "ping");
    String node = TermValues.text(ping, "node");
    long pid = TermValues.longOf(ping, "pid", -1);
    Map<String, Object> stats = TermValues.map(client.ok(NodeClient.atom("stats"), "stats"), "stats");
    long regionsOnNode = TermValues.longOf(stats, "regions", 0);
    List<Object> regions = list(regionsOnNode);
    Set<String> pooled = new LinkedHashSet<>();
    Set<String> known = segmentsOf(stats, pooled);
    for (Object o : regions) {
      known.add(TermValues.text(TermValues.map(o, "region"), "segment"));
    }
    if (regions.size() >= MAX_REGIONS) {
      notes.add("only the first " + MAX_REGIONS + " of " + regionsOnNode + " region(s) checked (one list call; "
          + "segment headers and the shm dir are checked whole)");
    } else if (regions.size() < regionsOnNode) {
      notes.add((regionsOnNode - regions.size()) + " of " + regionsOnNode + " region(s) not visible to this caller"
          + (operatorKey == null ? " (regions of tenants: pass --operator-key-file to check them too)" : ""));
    }

    int segmentsChecked = 0;
    for (String seg : known) {
      progress.update(segmentsChecked, known.size(), "segments");
      segmentsChecked++;
      checkSegment(shmDir, seg, node, pid, pooled.contains(seg));
    }
    progress.done();

    int regionsChecked = 0;
    for (Object o : regions) {
      progress.update(regionsChecked, regions.size(), "regions");
      regionsChecked++;
      checkRegion(TermValues.map(o, "region"));
    }
    progress.done();

    int others = checkDir(shmDir, known, node, pid);
    return new Result(segmentsChecked, regionsChecked, regionsOnNode, others, changedMeanwhile, mismatches, notes,
        (System.nanoTime() - start) / 1_000_000);
  }

  private List<Object> list(long regionsOnNode) throws UsageException {
    Map<String, Object> filter = new LinkedHashMap<>();
    // one list reply holds every info: keep it to a size the node builds without strain
    filter.put("limit", Math.min(MAX_REGIONS, Math.max(1, regionsOnNode) + 1000));
    filter.put("operator_key", operatorKey);
    return TermValues.list(client.ok(NodeClient.tuple(NodeClient.atom("list"), NodeClient.map(filter)), "list"));
  }

  /** The shm names of the node's segments in {@code stats}; pooled ones also into {@code pooled}. */
  static Set<String> segmentsOf(Map<String, Object> stats, Set<String> pooled) {
    Set<String> out = new LinkedHashSet<>(TermValues.submap(stats, "bytes_by_segment").keySet());
    for (Object o : TermValues.list(TermValues.submap(stats, "pool").get("segments"))) {
      String name = TermValues.text(TermValues.map(o, "pool segment"), "segment");
      pooled.add(name);
      out.add(name);
    }
    return out;
  }

  private static Path fileOf(Path dir, String shmName) {
    return dir.resolve(shmName.startsWith("/") ? shmName.substring(1) : shmName);
  }

  private void checkSegment(Path dir, String seg, String node, long pid, boolean pooled) {
    Path p = fileOf(dir, seg);
    if (!Files.exists(p, LinkOption.NOFOLLOW_LINKS)) {
      mismatches.add(new Mismatch("segment_missing", seg, "the node uses it but " + p + " does not exist"));
      return;
    }
    SegmentHeaderLayout.Header h = ShmDirScan.readSegmentHeader(p);
    if (h == null) {
      mismatches.add(new Mismatch("segment_header", seg, "no valid segment header (magic, layout or CRC-32 wrong)"));
      return;
    }
    if (!h.owner().nodeName().equals(node) || h.owner().osPid() != pid) {
      mismatches.add(new Mismatch("segment_owner", seg, "its header names " + h.owner().nodeName() + " (pid "
          + h.owner().osPid() + "), not " + node + " (pid " + pid + ")"));
    }
    int kind = pooled ? SegmentHeaderLayout.KIND_POOLED : h.kind();
    if (h.kind() != kind) {
      mismatches.add(new Mismatch("segment_kind", seg, "the node pools regions in it but its header says kind "
          + h.kind()));
    }
  }

  private void checkRegion(Map<String, Object> r) throws UsageException {
    String problem = regionProblem(r);
    if (problem == null) {
      return;
    }
    // confirm: the node may have freed or replaced the region since it listed it
    String id = TermValues.text(r, "id");
    Map<String, Object> opts = new LinkedHashMap<>();
    opts.put("tenant", r.get("tenant"));
    opts.put("operator_key", operatorKey);
    Object again = client.call(NodeClient.tuple(NodeClient.atom("info"), NodeClient.binary(id),
        NodeClient.map(opts)));
    if (!(again instanceof List<?> l && l.size() == 2 && "ok".equals(l.get(0)))) {
      changedMeanwhile++;
      return;
    }
    Map<String, Object> now = TermValues.map(l.get(1), "info");
    if (TermValues.longOf(now, "generation", -1) != TermValues.longOf(r, "generation", -2)
        || !TermValues.text(now, "state").equals(TermValues.text(r, "state"))) {
      changedMeanwhile++;
      return;
    }
    String still = regionProblem(now);
    if (still != null) {
      mismatches.add(new Mismatch("region_header", id + " in " + TermValues.text(r, "segment") + " at offset "
          + TermValues.longOf(r, "offset", -1), still));
    }
  }

  /** What is wrong with the header of a region the node describes as {@code r}, or null. */
  static String regionProblem(Map<String, Object> r) {
    Path path = Path.of(TermValues.text(r, "path"));
    long offset = TermValues.longOf(r, "offset", -1);
    String state = TermValues.text(r, "state");
    RegionHeaderLayout.Header h;
    try {
      h = ShmDirScan.readRegionHeader(path, offset - RegionHeaderLayout.HEADER_BYTES);
    } catch (IOException e) {
      return "cannot read " + path + ": " + e.getMessage();
    }
    if (h == null) {
      return "no region header at file offset " + (offset - RegionHeaderLayout.HEADER_BYTES) + " (magic or layout "
          + "wrong)";
    }
    if (state.equals("invalid")) {
      // the node found it corrupt already and says so in health.invalid_regions
      return h.state() == RegionHeaderLayout.STATE_INVALID ? null
          : "the node marks it invalid but its header says " + ShmDirScan.stateName(h.state());
    }
    if (!h.crcValid()) {
      return "its header's CRC-32 does not match (corrupt header the node has not detected yet)";
    }
    List<String> diffs = new ArrayList<>();
    differs(diffs, "id", ShmDirScan.idText(h.regionId()), TermValues.text(r, "id"));
    differs(diffs, "generation", h.generation(), TermValues.longOf(r, "generation", -1));
    differs(diffs, "size", h.payloadBytes(), TermValues.longOf(r, "size", -1));
    differs(diffs, "offset", h.payloadOffset(), offset);
    boolean stateOk = switch (state) {
      case "live" -> h.state() == RegionHeaderLayout.STATE_LIVE;
      case "freed" -> h.state() == RegionHeaderLayout.STATE_LIVE || h.state() == RegionHeaderLayout.STATE_FREED;
      default -> true;
    };
    if (!stateOk) {
      diffs.add("state " + ShmDirScan.stateName(h.state()) + " in the header, " + state + " on the node");
    }
    return diffs.isEmpty() ? null : String.join("; ", diffs);
  }

  private static void differs(List<String> diffs, String field, Object inHeader, Object onNode) {
    if (!inHeader.equals(onNode)) {
      diffs.add(field + " " + inHeader + " in the header, " + onNode + " on the node");
    }
  }

  /** Segment files the node does not use; returns how many belong to other live managers. */
  private int checkDir(Path dir, Set<String> known, String node, long pid) throws UsageException {
    List<Path> files = ShmDirScan.segmentFiles(dir);
    ShmDirScan scan = new ShmDirScan(Platforms.forCurrentOs(), dir);
    List<Path> ownUnknown = new ArrayList<>();
    int others = 0;
    for (int i = 0; i < files.size(); i++) {
      progress.update(i, files.size(), "files");
      Path p = files.get(i);
      String shmName = SegmentNames.shmName(p.getFileName().toString());
      if (known.contains(shmName)) {
        continue;
      }
      ShmDirScan.Segment s = scan.segment(p, false, null);
      if (s.header() == null) {
        if (s.readError() == null && System.currentTimeMillis() - s.modifiedMs() < ShmDirScan.CREATION_GRACE_MS) {
          continue; // a segment being created
        }
        if (Files.exists(p, LinkOption.NOFOLLOW_LINKS)) {
          mismatches.add(new Mismatch("unknown_file", p.toString(), "no valid segment header"
              + (s.readError() != null ? " (" + s.readError() + ")" : "") + ": not a segment of any live manager, "
              + "or one whose creator died (sweep --reclaim removes it when nobody holds its creation lock)"));
        }
      } else if (s.header().owner().nodeName().equals(node) && s.header().owner().osPid() == pid) {
        ownUnknown.add(p);
      } else if (s.owner().alive()) {
        others++;
      } else {
        mismatches.add(new Mismatch("stale_segment", p.toString(), "segment of dead manager "
            + s.owner().node() + " (pid " + s.owner().pid() + "): " + s.owner().deathReason()
            + "; gc or sweep --reclaim removes it"));
      }
    }
    progress.done();
    if (!ownUnknown.isEmpty()) {
      // segments made or dropped while the check ran are known now, or gone
      Set<String> nowKnown = segmentsOf(TermValues.map(client.ok(NodeClient.atom("stats"), "stats"), "stats"),
          new LinkedHashSet<>());
      for (Path p : ownUnknown) {
        if (nowKnown.contains(SegmentNames.shmName(p.getFileName().toString()))
            || !Files.exists(p, LinkOption.NOFOLLOW_LINKS)) {
          changedMeanwhile++;
        } else {
          mismatches.add(new Mismatch("leaked_segment", p.toString(), "its header names this node (" + node + ", pid "
              + pid + ") but the node does not use it"));
        }
      }
    }
    return others;
  }
}

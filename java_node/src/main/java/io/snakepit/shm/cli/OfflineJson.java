package io.snakepit.shm.cli;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** The {@code --json} documents of the offline modes, built from a {@link ShmDirScan.Result}. */
final class OfflineJson {
  private OfflineJson() {}

  /** Everything a scan found, with at most {@code regionLimit} regions listed. */
  static Map<String, Object> document(ShmDirScan.Result scan, long regionLimit) {
    Map<String, Object> doc = new LinkedHashMap<>();
    doc.put("offline", true);
    doc.put("shm_dir", scan.dir().toString());
    doc.put("shm_dir_total_bytes", scan.totalBytes() < 0 ? null : scan.totalBytes());
    doc.put("shm_dir_free_bytes", scan.availableBytes() < 0 ? null : scan.availableBytes());
    doc.put("duration_ms", scan.durationMs());
    doc.put("managers", managers(scan));
    List<Object> segments = new ArrayList<>();
    for (ShmDirScan.Segment s : scan.segments()) {
      segments.add(segment(s));
    }
    doc.put("segments", segments);
    List<Object> regions = new ArrayList<>();
    long all = 0;
    for (ShmDirScan.Segment s : scan.segments()) {
      for (ShmDirScan.Region r : s.regions()) {
        all++;
        if (regions.size() < regionLimit) {
          regions.add(region(r, s));
        }
      }
    }
    doc.put("region_count", all);
    doc.put("regions", regions);
    return doc;
  }

  static List<Object> managers(ShmDirScan.Result scan) {
    List<Object> out = new ArrayList<>();
    for (Map.Entry<ShmDirScan.Owner, long[]> e : ShmDirScan.byOwner(scan.segments()).entrySet()) {
      Map<String, Object> m = owner(e.getKey());
      m.put("segments", e.getValue()[0]);
      m.put("bytes", e.getValue()[1]);
      out.add(m);
    }
    return out;
  }

  static Map<String, Object> owner(ShmDirScan.Owner o) {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("node", o.node());
    m.put("pid", o.pid());
    m.put("instance", o.instance());
    m.put("alive", o.alive());
    m.put("death_reason", o.deathReason());
    return m;
  }

  static Map<String, Object> segment(ShmDirScan.Segment s) {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("segment", s.shmName());
    m.put("path", s.path().toString());
    m.put("file_bytes", s.fileBytes());
    m.put("kind", s.header() == null ? null : s.kind());
    m.put("valid_header", s.header() != null);
    m.put("created_ms", s.header() == null ? null : s.header().createdMs());
    m.put("modified_ms", s.modifiedMs());
    m.put("owner", s.owner() == null ? null : owner(s.owner()));
    m.put("regions", (long) s.regions().size());
    m.put("corrupt_header_offsets", new ArrayList<Object>(s.corruptHeaderOffsets()));
    m.put("read_error", s.readError());
    return m;
  }

  static Map<String, Object> region(ShmDirScan.Region r, ShmDirScan.Segment s) {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("id", r.id());
    m.put("generation", r.generation());
    m.put("size", r.size());
    m.put("offset", r.offset());
    m.put("state", r.state());
    m.put("sensitive", r.sensitive());
    m.put("created_ms", r.createdMs());
    m.put("segment", r.segment());
    m.put("path", r.path().toString());
    m.put("kind", s.kind());
    m.put("owner_node", s.owner() == null ? null : s.owner().node());
    m.put("owner_pid", s.owner() == null ? null : s.owner().pid());
    m.put("owner_alive", s.owner() != null && s.owner().alive());
    return m;
  }
}

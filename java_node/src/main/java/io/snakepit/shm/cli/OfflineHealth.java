package io.snakepit.shm.cli;

import io.snakepit.shm.platform.Platforms;
import io.snakepit.shm.segment.ShmDirGuard;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * {@code health --offline}: the health of an shm dir read without a node. Checks:
 * {@code shm_dir} (usable; failing when not; degraded at 90 % full), {@code managers}
 * (live managers and their segments), {@code stale_segments} (segments of dead managers:
 * degraded), {@code segment_headers} (files without a valid header older than 2 s, or
 * unreadable: degraded), {@code region_headers} (corrupt or invalid region headers: degraded).
 */
final class OfflineHealth {
  static final double FULL_RATIO = 0.9;
  /** Rows shown per table in text; --json lists all. */
  static final int MAX_ROWS = 20;

  private OfflineHealth() {}

  static int run(Path dir, boolean json, PrintStream out) throws UsageException {
    String dirProblem = ShmDirGuard.dirProblem(dir);
    if (dirProblem != null) {
      Map<String, Object> doc = new LinkedHashMap<>();
      doc.put("status", "failing");
      doc.put("offline", true);
      doc.put("shm_dir", dir.toString());
      doc.put("checks", List.of(HealthCommand.check("shm_dir", "failing", dirProblem)));
      if (json) {
        out.println(Json.write(doc));
      } else {
        out.println("offline health of " + dir + ": FAILING");
        out.print(HealthCommand.checks(TermValues.list(doc.get("checks"))));
      }
      return HealthCommand.FAILING;
    }
    ShmDirScan.Result scan = new ShmDirScan(Platforms.forCurrentOs(), dir).scan(true, Progress.onTerminal("read"));
    Map<String, Object> doc = evaluate(scan, System.currentTimeMillis());
    if (json) {
      out.println(Json.write(doc));
    } else {
      out.print(render(doc, scan));
    }
    return HealthCommand.exitStatus((String) doc.get("status"));
  }

  /** The offline health document of a scan. */
  static Map<String, Object> evaluate(ShmDirScan.Result scan, long now) {
    List<Object> checks = new ArrayList<>();
    String status = "ok";
    if (scan.totalBytes() > 0) {
      double used = 1 - (double) scan.availableBytes() / scan.totalBytes();
      String s = used >= FULL_RATIO ? "degraded" : "ok";
      checks.add(HealthCommand.check("shm_dir", s, scan.dir() + ": " + HumanUnits.bytes(scan.availableBytes())
          + " free of " + HumanUnits.bytes(scan.totalBytes()) + " (" + HumanUnits.percent(used) + " used)"));
      status = HealthCommand.worst(status, s);
    } else {
      checks.add(HealthCommand.check("shm_dir", "ok", scan.dir() + ": size unknown (statvfs failed)"));
    }

    List<String> live = new ArrayList<>();
    List<Object> stale = new ArrayList<>();
    long staleBytes = 0;
    for (Map.Entry<ShmDirScan.Owner, long[]> e : ShmDirScan.byOwner(scan.segments()).entrySet()) {
      ShmDirScan.Owner o = e.getKey();
      if (o.alive()) {
        live.add(o.node() + " (pid " + o.pid() + ", " + e.getValue()[0] + " segment(s), "
            + HumanUnits.bytes(e.getValue()[1]) + ")");
      }
    }
    List<Object> headerless = new ArrayList<>();
    List<Object> corrupt = new ArrayList<>();
    List<Object> invalid = new ArrayList<>();
    int regions = 0;
    for (ShmDirScan.Segment s : scan.segments()) {
      if (s.header() == null) {
        long ageMs = now - s.modifiedMs();
        if (s.readError() != null || ageMs >= ShmDirScan.CREATION_GRACE_MS) {
          Map<String, Object> m = new LinkedHashMap<>();
          m.put("path", s.path().toString());
          m.put("file_bytes", s.fileBytes());
          m.put("age_ms", ageMs);
          m.put("read_error", s.readError());
          headerless.add(m);
        }
        continue;
      }
      if (!s.owner().alive()) {
        Map<String, Object> m = OfflineJson.segment(s);
        stale.add(m);
        staleBytes += Math.max(0, s.fileBytes());
      }
      for (long off : s.corruptHeaderOffsets()) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("segment", s.shmName());
        m.put("header_offset", off);
        corrupt.add(m);
      }
      for (ShmDirScan.Region r : s.regions()) {
        regions++;
        if (r.state().equals("invalid")) {
          invalid.add(OfflineJson.region(r, s));
        }
      }
    }
    checks.add(HealthCommand.check("managers", "ok", live.isEmpty() ? "no live manager has segments here"
        : live.size() + " live manager(s): " + String.join(", ", live)));
    String staleStatus = stale.isEmpty() ? "ok" : "degraded";
    checks.add(HealthCommand.check("stale_segments", staleStatus, stale.isEmpty() ? "none"
        : stale.size() + " segment file(s) (" + HumanUnits.bytes(staleBytes) + ") of dead managers; "
            + "'snakepit-shm sweep --reclaim' removes them"));
    status = HealthCommand.worst(status, staleStatus);
    String headerStatus = headerless.isEmpty() ? "ok" : "degraded";
    checks.add(HealthCommand.check("segment_headers", headerStatus, headerless.isEmpty()
        ? scan.segments().size() + " segment file(s), every header valid"
        : headerless.size() + " file(s) without a valid segment header (or unreadable); OPERATIONS.md "
            + "\"Stale segments\""));
    status = HealthCommand.worst(status, headerStatus);
    String regionStatus = corrupt.isEmpty() && invalid.isEmpty() ? "ok" : "degraded";
    checks.add(HealthCommand.check("region_headers", regionStatus, regionStatus.equals("ok")
        ? regions + " region header(s) read, none corrupt"
        : corrupt.size() + " region header(s) with a wrong CRC-32, " + invalid.size()
            + " marked invalid; OPERATIONS.md \"Corruption\""));
    status = HealthCommand.worst(status, regionStatus);

    Map<String, Object> doc = new LinkedHashMap<>();
    doc.put("status", status);
    doc.put("offline", true);
    doc.put("shm_dir", scan.dir().toString());
    doc.put("checks", checks);
    doc.put("managers", OfflineJson.managers(scan));
    doc.put("stale_segments", stale);
    doc.put("headerless_files", headerless);
    doc.put("corrupt_headers", corrupt);
    doc.put("invalid_regions", invalid);
    doc.put("regions", (long) regions);
    doc.put("duration_ms", scan.durationMs());
    return doc;
  }

  private static String render(Map<String, Object> doc, ShmDirScan.Result scan) {
    StringBuilder sb = new StringBuilder();
    sb.append("offline health of ").append(scan.dir()).append(": ")
        .append(doc.get("status").toString().toUpperCase(Locale.ROOT)).append(" (")
        .append(scan.segments().size()).append(" segment file(s) read in ").append(scan.durationMs())
        .append(" ms)\n");
    sb.append(HealthCommand.checks(TermValues.list(doc.get("checks"))));
    List<Object> stale = TermValues.list(doc.get("stale_segments"));
    if (!stale.isEmpty()) {
      TextTable t = new TextTable("SEGMENT", ">BYTES", "MANAGER", "WHY DEAD");
      for (Object o : stale.subList(0, Math.min(MAX_ROWS, stale.size()))) {
        Map<String, Object> m = TermValues.map(o, "segment");
        Map<String, Object> owner = TermValues.submap(m, "owner");
        t.row(m.get("segment"), TextTable.bytes(m.get("file_bytes")), owner.get("node") + " (pid " + owner.get("pid")
            + ")", owner.get("death_reason"));
      }
      sb.append(ReportText.title("segments of dead managers:")).append(t.render(2)).append(more(stale));
    }
    List<Object> headerless = TermValues.list(doc.get("headerless_files"));
    if (!headerless.isEmpty()) {
      TextTable t = new TextTable("FILE", ">BYTES", ">AGE", "PROBLEM");
      long now = System.currentTimeMillis();
      for (Object o : headerless.subList(0, Math.min(MAX_ROWS, headerless.size()))) {
        Map<String, Object> m = TermValues.map(o, "file");
        t.row(m.get("path"), TextTable.bytes(m.get("file_bytes")), TextTable.ago(now - TermValues.longOf(m, "age_ms",
            0), now), m.get("read_error") == null ? "no valid segment header" : m.get("read_error"));
      }
      sb.append(ReportText.title("files without a valid segment header:")).append(t.render(2))
          .append(more(headerless));
    }
    List<Object> corrupt = TermValues.list(doc.get("corrupt_headers"));
    if (!corrupt.isEmpty()) {
      TextTable t = new TextTable("SEGMENT", ">HEADER OFFSET");
      for (Object o : corrupt.subList(0, Math.min(MAX_ROWS, corrupt.size()))) {
        Map<String, Object> m = TermValues.map(o, "header");
        t.row(m.get("segment"), m.get("header_offset"));
      }
      sb.append(ReportText.title("region headers with a wrong CRC-32:")).append(t.render(2)).append(more(corrupt));
    }
    return sb.toString();
  }

  private static String more(List<Object> rows) {
    return rows.size() > MAX_ROWS ? "  ... and " + (rows.size() - MAX_ROWS) + " more (--json lists all)\n" : "";
  }
}

package io.snakepit.shm.cli;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * {@code snakepit-shm report}: capacity, usage, headroom, latency, alerts and
 * recommendations of a node ({@code :report}), as text, JSON, or (with {@code --html FILE})
 * an HTML page with plots of usage and latency over the last hour.
 */
final class ReportCommand {
  static final Flag HTML = new Flag("--html", "FILE", "none", "also write the report as an HTML page with plots "
      + "of usage and latency to FILE (created with mode 0600; replaced if it exists)");

  static final CommandLine.Spec SPEC = new CommandLine.Spec("report", "",
      """
      Reports capacity (shm dir, max_total_bytes, bytes in use and reserved), usage (regions,
      holders, segments; bytes by tenant, session, holder), headroom to each limit, latency,
      raised alerts and their recent history, and recommendations. The node walks every
      region once to build it.""",
      CommonOptions.nodeFlags(HTML, CommonOptions.OPERATOR_KEY_FILE), 0, 0,
      """
      examples:
        snakepit-shm report
        snakepit-shm report --html /tmp/snakepit-shm-report.html""");

  private ReportCommand() {}

  static int run(List<String> args, PrintStream out) throws UsageException {
    CommandLine line = CommandLine.parseOrHelp(SPEC, args, out);
    if (line == null) {
      return 0;
    }
    CommonOptions common = new CommonOptions(line);
    Path html = line.path(HTML.name(), null);
    Map<String, Object> report;
    try (NodeClient client = common.connect()) {
      String key = common.operatorKey();
      Map<String, Object> opts = new LinkedHashMap<>();
      opts.put("operator_key", key);
      report = TermValues.map(client.ok(key == null ? NodeClient.atom("report")
          : NodeClient.tuple(NodeClient.atom("report"), NodeClient.map(opts)), "report"), "report");
    }
    String written = null;
    if (html != null) {
      String page = HtmlReport.render(report);
      try {
        if (!Files.exists(html)) {
          // tenant and session names are in it: readable by this user only, like the segments
          io.snakepit.shm.segment.PrivatePaths.createFile(html);
        }
        Files.writeString(html, page, StandardCharsets.UTF_8);
      } catch (IOException e) {
        throw new UsageException(UsageException.ENVIRONMENT, "cannot write the HTML report to " + html + ": " + e);
      }
      written = "wrote the HTML report to " + html + " (" + HumanUnits.bytes(page.getBytes(StandardCharsets.UTF_8)
          .length) + ")";
    }
    if (common.json()) {
      out.println(Json.write(report));
      if (written != null) {
        System.err.println(written);
      }
      return 0;
    }
    out.print(render(report, System.currentTimeMillis()));
    if (written != null) {
      out.println();
      out.println(written);
    }
    return 0;
  }

  static String render(Map<String, Object> r, long now) {
    StringBuilder sb = new StringBuilder();
    sb.append("snakepit-shm report of ").append(r.get("node")).append(", generated ")
        .append(HumanUnits.dateTime(TermValues.longOf(r, "generated_ms", now))).append(", up ")
        .append(HumanUnits.duration(TermValues.longOf(r, "uptime_ms", 0))).append('\n');
    Map<String, Object> c = TermValues.submap(r, "capacity");
    long total = TermValues.longOf(c, "shm_dir_total_bytes", -1);
    long free = TermValues.longOf(c, "shm_dir_free_bytes", -1);
    long max = TermValues.longOf(c, "max_total_bytes", -1);
    long inUse = TermValues.longOf(c, "bytes_in_use", 0);
    TextTable t = new TextTable("WHAT", "VALUE");
    t.row("shm dir", r.get("shm_dir") + (total > 0 ? ": " + HumanUnits.bytes(total) + ", " + HumanUnits.bytes(free)
        + " free (" + HumanUnits.percent(1 - (double) free / total) + " used)" : ": size unknown"));
    t.row("in use", HumanUnits.bytes(inUse) + (max > 0 ? " of max_total_bytes " + HumanUnits.bytes(max) + " ("
        + HumanUnits.percent((double) inUse / max) + ")" : "") + ", reserved "
        + TextTable.bytes(c.get("bytes_reserved")));
    Map<String, Object> u = TermValues.submap(r, "usage");
    t.row("regions", HumanUnits.count(TermValues.longOf(u, "regions", 0)) + " held by "
        + HumanUnits.count(TermValues.longOf(u, "holders", 0)) + " holder(s), in "
        + TermValues.longOf(u, "segments", 0) + " segment(s) (" + TermValues.longOf(u, "pooled_segments", 0)
        + " pooled, " + TermValues.longOf(u, "dedicated_segments", 0) + " dedicated)");
    Map<String, Object> pool = TermValues.submap(r, "pool");
    t.row("pool", "capacity " + TextTable.bytes(pool.get("capacity_bytes")) + ", free "
        + TextTable.bytes(pool.get("free_bytes")) + ", fragmentation "
        + HumanUnits.percent(TermValues.doubleOf(pool, "fragmentation", 0)));
    t.row("errors", ReportText.counts(TermValues.submap(r, "errors")));
    t.row("security", ReportText.counts(TermValues.submap(r, "security")));
    String fields = t.render(2);
    sb.append(fields.substring(fields.indexOf('\n') + 1));
    sb.append(ReportText.alerts(TermValues.list(r.get("alerts")), now));
    sb.append(recommendations(TermValues.list(r.get("recommendations"))));
    sb.append(ReportText.headroom(TermValues.list(r.get("headroom"))));
    Map<String, Object> latency = TermValues.submap(r, "latency");
    sb.append(ReportText.latency("calls (latency as seen by the node):", TermValues.submap(latency, "calls"),
        "_us"));
    sb.append(series(TermValues.list(r.get("series"))));
    sb.append(ReportText.topHolders(TermValues.list(u.get("top_holders")), 10));
    sb.append(ReportText.bytesBy("bytes by tenant:", "TENANT", TermValues.submap(u, "bytes_by_tenant"), 10));
    sb.append(ReportText.bytesBy("bytes by session:", "SESSION", TermValues.submap(u, "bytes_by_session"), 10));
    sb.append(alertHistory(TermValues.list(r.get("alert_history")), now));
    return sb.toString();
  }

  private static String recommendations(List<Object> recs) {
    if (recs.isEmpty()) {
      return ReportText.title("recommendations:") + "  none\n";
    }
    StringBuilder sb = new StringBuilder(ReportText.title("recommendations:"));
    for (Object o : recs) {
      Map<String, Object> m = TermValues.map(o, "recommendation");
      sb.append("  [").append(m.get("severity")).append("] ").append(m.get("id")).append(": ")
          .append(m.get("message")).append('\n').append("    -> ").append(m.get("action")).append('\n');
    }
    return sb.toString();
  }

  /** The usage series in one paragraph: span, peaks, last sample. */
  private static String series(List<Object> series) {
    if (series.isEmpty()) {
      return ReportText.title("usage over the last hour:") + "  no samples yet (one every 5 s)\n";
    }
    long peakBytes = 0;
    long peakBytesAt = 0;
    long peakP99 = 0;
    long peakRegions = 0;
    for (Object o : series) {
      Map<String, Object> s = TermValues.map(o, "sample");
      long b = TermValues.longOf(s, "bytes_in_use", 0);
      if (b >= peakBytes) {
        peakBytes = b;
        peakBytesAt = TermValues.longOf(s, "at_ms", 0);
      }
      peakP99 = Math.max(peakP99, TermValues.longOf(s, "p99_us", 0));
      peakRegions = Math.max(peakRegions, TermValues.longOf(s, "regions", 0));
    }
    Map<String, Object> first = TermValues.map(series.get(0), "sample");
    Map<String, Object> last = TermValues.map(series.get(series.size() - 1), "sample");
    return ReportText.title("usage over the last hour:") + "  " + series.size() + " sample(s) from "
        + HumanUnits.time(TermValues.longOf(first, "at_ms", 0)) + " to "
        + HumanUnits.time(TermValues.longOf(last, "at_ms", 0)) + " UTC; peak "
        + HumanUnits.bytes(peakBytes) + " in use (at " + HumanUnits.time(peakBytesAt) + "), peak "
        + HumanUnits.count(peakRegions) + " region(s), peak call p99 " + HumanUnits.micros(peakP99)
        + " (--html plots them)\n";
  }

  private static String alertHistory(List<Object> history, long now) {
    if (history.isEmpty()) {
      return ReportText.title("alert history:") + "  none\n";
    }
    TextTable t = new TextTable(">AGO", "ALERT", "WHAT", "MESSAGE");
    for (int i = Math.max(0, history.size() - 10); i < history.size(); i++) {
      Map<String, Object> m = TermValues.map(history.get(i), "alert transition");
      t.row(TextTable.ago(TermValues.longOf(m, "at_ms", 0), now), m.get("name"),
          Boolean.TRUE.equals(m.get("raised")) ? "raised" : "cleared", m.get("message"));
    }
    return ReportText.title("alert history (newest last):") + t.render(2);
  }
}

package io.snakepit.shm.cli;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The HTML page of {@code snakepit-shm report --html FILE}: one self-contained page (inline
 * CSS and SVG, no script, no external resource) built from the node's {@code report} reply
 * (PROTOCOL.md, "Observability"), for an operator who must see at once what is wrong.
 *
 * <p>From the top: the node and its status (alerts raised, worst severity), key figures,
 * the alerts raised now with their recommendations, capacity (bytes in use against
 * {@code max_total_bytes} and the shm dir) and the headroom to every limit, plots of the
 * last hour's samples, recommendations, usage by tenant, session, holder and segment,
 * call and operation latency, pool fragmentation, error and security counters, the alert
 * history and the configuration.
 *
 * <p>The input is the reply decoded into plain Java: maps with string keys, strings, Long,
 * Double, Boolean, null and lists. Missing or oddly typed fields are shown as absent, never
 * fail the page. Every text from the node is HTML-escaped.
 */
public final class HtmlReport {
  private static final String OK = "ok";
  private static final String WARNING = "warning";
  private static final String CRITICAL = "critical";
  private static final int TABLE_ROWS = 10;
  private static final String C_IN_USE = "#1971c2";
  private static final String C_RESERVED = "#7048e8";
  private static final String C_REGIONS = "#0c8599";
  private static final String C_HOLDERS = "#e8590c";
  private static final String C_ERRORS = "#c92a2a";
  private static final String C_P99 = "#e67700";
  private static final String C_LIMIT = "#c92a2a";

  private HtmlReport() {}

  /** The page for {@code report}. */
  public static String render(Map<String, Object> report) {
    return new HtmlReport.Page(report).build();
  }

  /** Escapes text for HTML element content and double- or single-quoted attribute values. */
  static String esc(String s) {
    if (s == null) {
      return "";
    }
    StringBuilder b = new StringBuilder(s.length() + 16);
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      switch (c) {
        case '&' -> b.append("&amp;");
        case '<' -> b.append("&lt;");
        case '>' -> b.append("&gt;");
        case '"' -> b.append("&quot;");
        case '\'' -> b.append("&#39;");
        default -> b.append(c);
      }
    }
    return b.toString();
  }

  // ---- reading the decoded reply -------------------------------------------------------

  @SuppressWarnings("unchecked")
  private static Map<String, Object> map(Object o) {
    return o instanceof Map<?, ?> m ? (Map<String, Object>) m : Map.of();
  }

  @SuppressWarnings("unchecked")
  private static List<Object> list(Object o) {
    return o instanceof List<?> l ? (List<Object>) l : List.of();
  }

  private static boolean isNum(Object o) {
    return o instanceof Number;
  }

  private static double num(Object o) {
    return o instanceof Number n ? n.doubleValue() : 0;
  }

  private static long lng(Object o) {
    return o instanceof Number n ? n.longValue() : 0;
  }

  /** A value as text: lists (decoded tuples such as {@code {:os_pid, n}}) joined by spaces. */
  private static String text(Object o) {
    if (o == null) {
      return "";
    }
    if (o instanceof List<?> l) {
      List<String> parts = new ArrayList<>();
      for (Object x : l) {
        parts.add(text(x));
      }
      return String.join(" ", parts);
    }
    return String.valueOf(o);
  }

  private static String e(Object o) {
    return esc(text(o));
  }

  private static String bytesOrDash(Object o) {
    return isNum(o) ? HumanUnits.bytes(num(o)) : "—";
  }

  private static String severityClass(Object s) {
    String v = text(s);
    return v.equals(CRITICAL) ? CRITICAL : v.equals(WARNING) ? WARNING : "info";
  }

  /** Entries of a {@code name => bytes} map, largest first. */
  private static List<Map.Entry<String, Object>> byValue(Map<String, Object> m) {
    List<Map.Entry<String, Object>> out = new ArrayList<>(m.entrySet());
    out.sort((a, b) -> Double.compare(num(b.getValue()), num(a.getValue())));
    return out;
  }

  /** One page being built. */
  private static final class Page {
    private final Map<String, Object> r;
    private final StringBuilder h = new StringBuilder(64 * 1024);
    private final long now;
    private final Map<String, Object> capacity;
    private final Map<String, Object> usage;
    private final Map<String, Object> config;
    private final List<Object> alerts;
    private final double alertCapacity;

    Page(Map<String, Object> report) {
      this.r = report == null ? Map.of() : report;
      this.now = lng(r.get("generated_ms"));
      this.capacity = map(r.get("capacity"));
      this.usage = map(r.get("usage"));
      this.config = map(r.get("config"));
      this.alerts = list(r.get("alerts"));
      this.alertCapacity = isNum(config.get("alert_capacity_percent")) ? num(config.get("alert_capacity_percent"))
          : 90;
    }

    String build() {
      String worst = worstSeverity();
      String node = text(r.get("node"));
      h.append("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">")
          .append("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">")
          .append("<title>snakepit-shm report: ").append(esc(node)).append(" (").append(worst.toUpperCase(Locale.ROOT))
          .append(")</title><style>").append(CSS).append("</style></head>\n<body>\n");
      header(node, worst);
      h.append("<main>\n");
      tiles();
      alertsNow();
      h.append("<div class=\"cols capcols\">");
      capacitySection();
      headroomSection();
      h.append("</div>\n");
      charts();
      recommendations();
      usageSection();
      latencySection();
      poolSection();
      h.append("<div class=\"cols\">");
      countersSection();
      alertHistory();
      h.append("</div>\n");
      configSection();
      h.append("<footer>Generated by <b>snakepit-shm report</b> from the node's <code>report</code> call")
          .append(now > 0 ? " at " + esc(HumanUnits.dateTime(now)) : "")
          .append(". All times are UTC. A static page: no script, no external resource.</footer>\n");
      h.append("</main>\n</body></html>\n");
      return h.toString();
    }

    private String worstSeverity() {
      String worst = OK;
      for (Object a : alerts) {
        String s = text(map(a).get("severity"));
        if (s.equals(CRITICAL)) {
          return CRITICAL;
        }
        worst = WARNING; // an alert of any other severity is at least a warning
      }
      return worst;
    }

    private void header(String node, String worst) {
      int n = alerts.size();
      int recs = list(r.get("recommendations")).size();
      h.append("<header class=\"top ").append(worst).append("\"><div>")
          .append("<div class=\"brand\">snakepit-shm report</div>")
          .append("<h1>").append(esc(node.isEmpty() ? "(unknown node)" : node)).append("</h1>")
          .append("<div class=\"meta\">shm dir <b>").append(e(r.get("shm_dir"))).append("</b>");
      if (now > 0) {
        h.append(" &middot; generated ").append(esc(HumanUnits.dateTime(now)));
      }
      if (isNum(r.get("uptime_ms"))) {
        h.append(" &middot; up ").append(esc(HumanUnits.duration(lng(r.get("uptime_ms")))));
      }
      h.append("</div></div><div class=\"status\"><span class=\"badge ").append(worst).append("\">")
          .append(worst.toUpperCase(Locale.ROOT)).append("</span><div class=\"sub\">")
          .append(n == 0 ? "no alert raised" : n + (n == 1 ? " alert" : " alerts") + " raised &middot; worst: "
              + worst)
          .append("</div><div class=\"sub\">").append(recs).append(recs == 1 ? " recommendation" : " recommendations")
          .append("</div></div></header>\n");
    }

    private void tile(String key, String value, String sub) {
      h.append("<div class=\"tile\"><div class=\"k\">").append(esc(key)).append("</div><div class=\"v\">")
          .append(esc(value)).append("</div><div class=\"s\">").append(esc(sub)).append("</div></div>");
    }

    private void tiles() {
      double inUse = num(capacity.get("bytes_in_use"));
      Object max = capacity.get("max_total_bytes");
      long calls = 0;
      for (Object c : map(map(r.get("latency")).get("calls")).values()) {
        calls += lng(map(c).get("count"));
      }
      long errors = 0;
      for (Object v : map(r.get("errors")).values()) {
        errors += lng(v);
      }
      long security = 0;
      for (Object v : map(r.get("security")).values()) {
        security += lng(v);
      }
      h.append("<section class=\"tiles\">");
      tile("Bytes in use", HumanUnits.bytes(inUse), isNum(max) && num(max) > 0
          ? HumanUnits.percent(inUse / num(max)) + " of " + HumanUnits.bytes(num(max)) : "no max_total_bytes");
      tile("Reserved", bytesOrDash(capacity.get("bytes_reserved")), "mapped segments");
      tile("Regions", HumanUnits.count(lng(usage.get("regions"))), "live regions");
      tile("Holders", HumanUnits.count(lng(usage.get("holders"))), "processes");
      tile("Segments", HumanUnits.count(lng(usage.get("segments"))), lng(usage.get("pooled_segments")) + " pooled, "
          + lng(usage.get("dedicated_segments")) + " dedicated");
      tile("Calls", HumanUnits.count(calls), HumanUnits.count(errors) + (errors == 1 ? " error" : " errors"));
      tile("Security events", HumanUnits.count(security), "since start");
      h.append("</section>\n");
    }

    private String ago(long atMs) {
      if (now <= 0 || atMs <= 0) {
        return "";
      }
      return " (" + HumanUnits.duration(Math.max(0, now - atMs)) + " ago)";
    }

    private void alertsNow() {
      h.append("<section class=\"card\" id=\"alerts\"><h2>Alerts raised now</h2>");
      if (alerts.isEmpty()) {
        h.append("<p class=\"allclear\">No alert raised: capacity, fragmentation and call latency are under their "
            + "thresholds.</p>");
      }
      for (Object o : alerts) {
        Map<String, Object> a = map(o);
        String sev = severityClass(a.get("severity"));
        h.append("<div class=\"note ").append(sev).append("\"><div class=\"head\"><span class=\"pill ").append(sev)
            .append("\">").append(e(a.get("severity"))).append("</span> <b>").append(e(a.get("name")))
            .append("</b>");
        if (isNum(a.get("value")) && isNum(a.get("threshold"))) {
          h.append(" <span class=\"muted\">").append(esc(HumanUnits.decimal(num(a.get("value"))))).append(" (threshold ")
              .append(esc(HumanUnits.decimal(num(a.get("threshold"))))).append(")</span>");
        }
        if (isNum(a.get("since_ms"))) {
          h.append("<span class=\"when\">since ").append(esc(HumanUnits.time(lng(a.get("since_ms")))))
              .append(esc(ago(lng(a.get("since_ms"))))).append("</span>");
        }
        h.append("</div><div class=\"msg\">").append(e(a.get("message"))).append("</div>");
        if (a.get("recommendation") != null) {
          h.append("<div class=\"act\"><b>Do:</b> ").append(e(a.get("recommendation"))).append("</div>");
        }
        h.append("</div>");
      }
      h.append("</section>\n");
    }

    private String ratioClass(double ratio) {
      double pct = ratio * 100;
      return pct >= alertCapacity ? CRITICAL : pct >= alertCapacity * 0.8 ? WARNING : "info";
    }

    private void bar(double ratio, String cls) {
      double w = Math.max(0, Math.min(1, ratio)) * 100;
      h.append("<div class=\"bar\"><span class=\"").append(cls).append(String.format(Locale.ROOT,
          "\" style=\"width:%.1f%%\"></span></div>", w));
    }

    /**
     * Two bars: the node's budget (bytes in use and reserved against max_total_bytes) and
     * the shm dir's file system (this node's segments, other files, free space, with
     * max_total_bytes marked).
     */
    private void capacitySection() {
      double inUse = num(capacity.get("bytes_in_use"));
      double reserved = num(capacity.get("bytes_reserved"));
      Object maxO = capacity.get("max_total_bytes");
      Object totalO = capacity.get("shm_dir_total_bytes");
      Object freeO = capacity.get("shm_dir_free_bytes");
      double max = num(maxO);
      h.append("<section class=\"card\"><h2>Capacity</h2>");
      // the node's budget
      double budget = Math.max(max, Math.max(reserved, inUse));
      h.append("<div class=\"caprow\"><div class=\"capline\"><b>Node budget</b> <span class=\"muted\">"
          + "max_total_bytes</span><span class=\"right\"><b>").append(esc(HumanUnits.bytes(inUse)))
          .append("</b> in use of ").append(esc(bytesOrDash(maxO)));
      if (max > 0) {
        h.append(" (<b class=\"").append(ratioClass(inUse / max)).append("\">")
            .append(esc(HumanUnits.percent(inUse / max))).append("</b>)");
      }
      h.append("</span></div><div class=\"stack\">");
      if (budget > 0) {
        stackPart("res", reserved / budget);
        stackPart("used " + ratioClass(max > 0 ? inUse / max : 0), inUse / budget);
      }
      h.append("</div><div class=\"legend\"><span><i class=\"sw\" style=\"background:#1971c2\"></i>in use ")
          .append(esc(HumanUnits.bytes(inUse))).append("</span><span><i class=\"sw\" style=\"background:#a5c8ee\">"
              + "</i>reserved ").append(esc(HumanUnits.bytes(reserved)))
          .append(" (incl. free pool space)</span></div></div>");
      // the shm dir
      if (isNum(totalO) && num(totalO) > 0) {
        double total = num(totalO);
        double used = isNum(freeO) ? total - num(freeO) : reserved;
        double others = Math.max(0, used - reserved);
        h.append("<div class=\"caprow\"><div class=\"capline\"><b>shm dir</b> <span class=\"muted\">file system"
            + "</span><span class=\"right\"><b>").append(esc(HumanUnits.bytes(used)))
            .append("</b> used of ").append(esc(HumanUnits.bytes(total))).append(" (<b class=\"")
            .append(ratioClass(used / total)).append("\">").append(esc(HumanUnits.percent(used / total)))
            .append("</b>), ").append(esc(bytesOrDash(freeO))).append(" free</span></div><div class=\"stack\">");
        stackPart("others", Math.min(1, (reserved + others) / total));
        stackPart("res", Math.min(1, reserved / total));
        if (max > 0) {
          h.append(String.format(Locale.ROOT, "<i class=\"mark\" style=\"left:%.2f%%\"></i>", Math.min(1, max / total)
              * 100));
        }
        h.append("</div><div class=\"legend\"><span><i class=\"sw\" style=\"background:#a5c8ee\"></i>this node ")
            .append(esc(HumanUnits.bytes(reserved))).append("</span><span><i class=\"sw\" style=\"background:#adb5bd\">"
                + "</i>other files ").append(esc(HumanUnits.bytes(others)))
            .append("</span><span><i class=\"sw dash\"></i>max_total_bytes (")
            .append(max > 0 ? esc(HumanUnits.percent(max / total)) : "—").append(")</span></div></div>");
        if (max > total) {
          h.append("<p class=\"warnline\">max_total_bytes is larger than the shm dir: the dir fills before the "
              + "limit is reached (allocations then fail with no_space).</p>");
        }
      }
      h.append("</section>");
    }

    private void stackPart(String cls, double to) {
      h.append(String.format(Locale.ROOT, "<span class=\"%s\" style=\"width:%.2f%%\"></span>", cls,
          Math.max(0, Math.min(1, to)) * 100));
    }

    private void headroomSection() {
      h.append("<section class=\"card\"><h2>Headroom to each limit</h2>");
      List<Object> rows = list(r.get("headroom"));
      if (rows.isEmpty()) {
        h.append("<p class=\"empty\">No headroom figures in this report.</p></section>");
        return;
      }
      h.append("<table><tr><th>Limit</th><th class=\"n\">Used</th><th class=\"n\">of</th><th>Use</th>"
          + "<th>Largest user</th></tr>");
      for (Object o : rows) {
        Map<String, Object> m = map(o);
        String limit = text(m.get("limit"));
        boolean bytes = limit.endsWith("_bytes");
        Object value = m.get("value");
        boolean unlimited = !isNum(value);
        double ratio = num(m.get("ratio"));
        h.append("<tr><td class=\"mono\">").append(esc(limit)).append("</td><td class=\"n\">")
            .append(esc(bytes ? HumanUnits.bytes(num(m.get("used"))) : HumanUnits.count(lng(m.get("used")))))
            .append("</td><td class=\"n\">")
            .append(unlimited ? "<span class=\"muted\">no limit</span>"
                : esc(bytes ? HumanUnits.bytes(num(value)) : HumanUnits.count(lng(value))))
            .append("</td><td class=\"barcell\">");
        if (unlimited) {
          h.append("<span class=\"muted\">—</span>");
        } else {
          h.append("<div class=\"barpct\">");
          bar(ratio, ratioClass(ratio));
          h.append("<span>").append(esc(HumanUnits.percent(ratio))).append("</span></div>");
        }
        h.append("</td><td class=\"mono clip narrow\" title=\"").append(e(m.get("by"))).append("\">")
            .append(m.get("by") == null ? "<span class=\"muted\">—</span>" : e(m.get("by"))).append("</td></tr>");
      }
      h.append("</table><p class=\"hint\">Bars turn amber at 80 % of the alert threshold and red at it (")
          .append(esc(HumanUnits.decimal(alertCapacity))).append(" %, alert_capacity_percent).</p></section>");
    }

    // ---- plots -----------------------------------------------------------------------------

    private void charts() {
      List<Object> series = list(r.get("series"));
      h.append("<section class=\"card\"><h2>Over time</h2>");
      if (series.size() < 2) {
        h.append("<div class=\"nodata\">Not enough samples yet: the node takes one every 5 s (")
            .append(series.size()).append(series.size() == 1 ? " sample" : " samples")
            .append(" so far). Plots appear from the second sample.</div></section>\n");
        return;
      }
      int n = series.size();
      long[] times = new long[n];
      for (int i = 0; i < n; i++) {
        times[i] = lng(map(series.get(i)).get("at_ms"));
      }
      String every = HumanUnits.duration(Math.max(1000, (times[n - 1] - times[0]) / (n - 1)));
      String range = HumanUnits.time(times[0]) + " – " + HumanUnits.time(times[n - 1]) + " UTC, " + n
          + " samples, one every " + every;
      h.append("<p class=\"hint top\">").append(esc(range)).append("</p><div class=\"charts\">");
      List<SvgChart.Ref> maxTotal = isNum(capacity.get("max_total_bytes"))
          ? List.of(new SvgChart.Ref("max_total_bytes", C_LIMIT, num(capacity.get("max_total_bytes")))) : List.of();
      chart("Bytes in use and reserved", times, SvgChart.Unit.BYTES, List.of(
          line("in use", C_IN_USE, series, "bytes_in_use", true, false),
          line("reserved", C_RESERVED, series, "bytes_reserved", false, false)), maxTotal);
      chart("Regions and holders", times, SvgChart.Unit.COUNT, List.of(
          line("regions", C_REGIONS, series, "regions", true, false),
          line("holders", C_HOLDERS, series, "holders", false, true)), List.of());
      chart("Calls and errors per " + every, times, SvgChart.Unit.COUNT, List.of(
          line("calls", C_IN_USE, series, "calls", true, false),
          line("errors", C_ERRORS, series, "errors", false, true)), List.of());
      Object p99Alert = config.get("alert_call_p99_us");
      chart("p99 call latency per " + every, times, SvgChart.Unit.MICROS, List.of(
          line("p99", C_P99, series, "p99_us", true, false)), isNum(p99Alert)
              ? List.of(new SvgChart.Ref("alert", C_LIMIT, num(p99Alert))) : List.of());
      h.append("</div></section>\n");
    }

    private static SvgChart.Line line(String name, String color, List<Object> series, String key, boolean area,
        boolean right) {
      double[] v = new double[series.size()];
      for (int i = 0; i < v.length; i++) {
        v[i] = num(map(series.get(i)).get(key));
      }
      return new SvgChart.Line(name, color, v, area, right);
    }

    private void chart(String title, long[] times, SvgChart.Unit unit, List<SvgChart.Line> lines,
        List<SvgChart.Ref> refs) {
      h.append("<div class=\"chartbox\"><h3>").append(esc(title)).append("</h3><div class=\"legend\">");
      for (SvgChart.Line l : lines) {
        double[] v = l.values();
        double peak = 0;
        for (double x : v) {
          peak = Math.max(peak, x);
        }
        h.append("<span><i class=\"sw\" style=\"background:").append(esc(l.color())).append("\"></i>")
            .append(esc(l.name())).append(" <b>").append(esc(human(unit, v[v.length - 1]))).append("</b> now, peak ")
            .append(esc(human(unit, peak))).append(l.right() ? " (right axis)" : "").append("</span>");
      }
      for (SvgChart.Ref ref : refs) {
        h.append("<span><i class=\"sw dash\"></i>").append(esc(ref.name())).append(" ")
            .append(esc(human(unit, ref.value()))).append("</span>");
      }
      h.append("</div>").append(SvgChart.render(title, times, lines, refs, unit)).append("</div>");
    }

    private static String human(SvgChart.Unit unit, double v) {
      return switch (unit) {
        case BYTES -> HumanUnits.bytes(v);
        case MICROS -> HumanUnits.micros(v);
        case COUNT -> HumanUnits.count(Math.round(v));
      };
    }

    // ---- recommendations, usage, latency, pool --------------------------------------------

    private void recommendations() {
      List<Object> recs = list(r.get("recommendations"));
      h.append("<section class=\"card\"><h2>Recommendations</h2>");
      if (recs.isEmpty()) {
        h.append("<p class=\"empty\">None: usage patterns look healthy.</p>");
      }
      for (Object o : recs) {
        Map<String, Object> m = map(o);
        String sev = severityClass(m.get("severity"));
        h.append("<div class=\"note slim ").append(sev).append("\"><div class=\"head\"><span class=\"pill ").append(sev)
            .append("\">").append(e(m.get("severity"))).append("</span> <span class=\"mono\">").append(e(m.get("id")))
            .append("</span> ").append(e(m.get("message"))).append("</div><div class=\"act\"><b>Do:</b> ")
            .append(e(m.get("action"))).append("</div></div>");
      }
      h.append("</section>\n");
    }

    private void usageSection() {
      double inUse = num(capacity.get("bytes_in_use"));
      h.append("<section class=\"card\"><h2>Usage</h2><div class=\"grid4\">");
      shareTable("By tenant", "Tenant", map(usage.get("bytes_by_tenant")), inUse, "No region has a tenant.");
      shareTable("By session", "Session", map(usage.get("bytes_by_session")), inUse, "No region has a session.");
      // top holders
      List<Object> holders = list(usage.get("top_holders"));
      h.append("<div><h3>Top holders</h3>");
      if (holders.isEmpty()) {
        h.append("<p class=\"empty\">No holder.</p>");
      } else {
        h.append("<table><tr><th>Holder</th><th class=\"n\">Regions</th><th class=\"n\">Bytes</th><th>Share</th></tr>");
        for (int i = 0; i < Math.min(TABLE_ROWS, holders.size()); i++) {
          Map<String, Object> m = map(holders.get(i));
          h.append("<tr><td class=\"mono clip\" title=\"").append(e(m.get("holder"))).append("\">")
              .append(e(m.get("holder"))).append("</td><td class=\"n\">")
              .append(esc(HumanUnits.count(lng(m.get("regions"))))).append("</td><td class=\"n\">")
              .append(esc(HumanUnits.bytes(num(m.get("bytes"))))).append("</td><td class=\"barcell\">");
          bar(inUse > 0 ? num(m.get("bytes")) / inUse : 0, "info");
          h.append("</td></tr>");
        }
        h.append("</table>");
        more(holders.size());
      }
      h.append("</div>");
      shareTable("By segment", "Segment", map(usage.get("bytes_by_segment")), inUse, "No segment.");
      h.append("</div></section>\n");
    }

    private void shareTable(String title, String column, Map<String, Object> m, double total, String none) {
      h.append("<div><h3>").append(esc(title)).append("</h3>");
      if (m.isEmpty()) {
        h.append("<p class=\"empty\">").append(esc(none)).append("</p></div>");
        return;
      }
      List<Map.Entry<String, Object>> rows = byValue(m);
      h.append("<table><tr><th>").append(esc(column)).append("</th><th class=\"n\">Bytes</th><th>Share</th>"
          + "<th class=\"n\"></th></tr>");
      for (int i = 0; i < Math.min(TABLE_ROWS, rows.size()); i++) {
        double v = num(rows.get(i).getValue());
        double share = total > 0 ? v / total : 0;
        String key = esc(rows.get(i).getKey());
        h.append("<tr><td class=\"mono clip\" title=\"").append(key).append("\">").append(key)
            .append("</td><td class=\"n\">")
            .append(esc(HumanUnits.bytes(v))).append("</td><td class=\"barcell\">");
        bar(share, "info");
        h.append("</td><td class=\"n\">").append(esc(HumanUnits.percent(share))).append("</td></tr>");
      }
      h.append("</table>");
      more(rows.size());
      h.append("</div>");
    }

    private void more(int rows) {
      if (rows > TABLE_ROWS) {
        h.append("<p class=\"hint\">and ").append(rows - TABLE_ROWS).append(" more</p>");
      }
    }

    private void latencySection() {
      Map<String, Object> latency = map(r.get("latency"));
      h.append("<section class=\"card\"><h2>Latency</h2><div class=\"cols2\">");
      latencyTable("Calls (node side, per request)", map(latency.get("calls")), "_us", true);
      latencyTable("Registry operations", map(latency.get("operations")), "_ns", false);
      h.append("</div></section>\n");
    }

    private void latencyTable(String title, Map<String, Object> m, String suffix, boolean micros) {
      double p99Alert = isNum(config.get("alert_call_p99_us")) ? num(config.get("alert_call_p99_us")) : -1;
      h.append("<div><h3>").append(esc(title)).append("</h3>");
      if (m.isEmpty()) {
        h.append("<p class=\"empty\">Nothing timed yet.</p></div>");
        return;
      }
      List<Map.Entry<String, Object>> rows = new ArrayList<>(m.entrySet());
      rows.sort((a, b) -> Long.compare(lng(map(b.getValue()).get("count")), lng(map(a.getValue()).get("count"))));
      h.append("<table><tr><th>").append(micros ? "Call" : "Operation").append("</th><th class=\"n\">Count</th>");
      for (String p : new String[] {"p50", "p90", "p99", "p99.9", "max"}) {
        h.append("<th class=\"n\">").append(p).append("</th>");
      }
      h.append("</tr>");
      for (Map.Entry<String, Object> row : rows) {
        Map<String, Object> s = map(row.getValue());
        long count = lng(s.get("count"));
        boolean slow = micros && p99Alert > 0 && num(s.get("p99" + suffix)) >= p99Alert;
        h.append("<tr").append(slow ? " class=\"hot\"" : count == 0 ? " class=\"dim\"" : "").append("><td class=\"mono\">")
            .append(esc(row.getKey())).append("</td><td class=\"n\">").append(esc(HumanUnits.count(count)))
            .append("</td>");
        for (String p : new String[] {"p50", "p90", "p99", "p999", "max"}) {
          Object v = s.get(p + suffix);
          h.append("<td class=\"n\">").append(!isNum(v) ? "—"
              : esc(micros ? HumanUnits.micros(num(v)) : HumanUnits.nanos(num(v)))).append("</td>");
        }
        h.append("</tr>");
      }
      h.append("</table></div>");
    }

    private void poolSection() {
      Map<String, Object> pool = map(r.get("pool"));
      h.append("<section class=\"card\"><h2>Pool and fragmentation</h2>");
      if (pool.isEmpty()) {
        h.append("<p class=\"empty\">No pool figures in this report.</p></section>\n");
        return;
      }
      double frag = num(pool.get("fragmentation"));
      double fragAlert = isNum(config.get("alert_fragmentation_percent"))
          ? num(config.get("alert_fragmentation_percent")) : 50;
      String fragClass = frag * 100 >= fragAlert ? CRITICAL : frag * 100 >= fragAlert * 0.6 ? WARNING : "info";
      List<Object> segs = list(pool.get("segments"));
      h.append("<div class=\"poolsum\"><div><span class=\"k\">Pooled capacity</span> <b>")
          .append(esc(bytesOrDash(pool.get("capacity_bytes")))).append("</b> in ").append(segs.size())
          .append(segs.size() == 1 ? " segment" : " segments").append("</div><div><span class=\"k\">Free</span> <b>")
          .append(esc(bytesOrDash(pool.get("free_bytes")))).append("</b></div><div><span class=\"k\">Largest free "
              + "block</span> <b>").append(esc(bytesOrDash(pool.get("largest_free_bytes"))))
          .append("</b></div><div><span class=\"k\">Size classes</span> <b>").append(lng(pool.get("size_classes")))
          .append("</b> up to ").append(esc(bytesOrDash(pool.get("largest_block_bytes"))))
          .append("</div><div class=\"fragbar\"><span class=\"k\">Fragmentation</span> <b>")
          .append(esc(HumanUnits.percent(frag))).append("</b>");
      bar(frag, fragClass);
      h.append("<span class=\"muted\">alert at ").append(esc(HumanUnits.decimal(fragAlert))).append(" %</span></div></div>");
      if (segs.isEmpty()) {
        h.append("<p class=\"empty\">No pooled segment.</p></section>\n");
        return;
      }
      h.append("<table><tr><th>Segment</th><th class=\"n\">Slot</th><th class=\"n\">Capacity</th><th>Used</th>"
          + "<th class=\"n\">Free</th><th class=\"n\">Largest free</th><th class=\"n\">Fragmentation</th>"
          + "<th class=\"n\">Live blocks</th><th>State</th></tr>");
      for (int i = 0; i < Math.min(TABLE_ROWS, segs.size()); i++) {
        Map<String, Object> s = map(segs.get(i));
        double cap = num(s.get("capacity_bytes"));
        double free = num(s.get("free_bytes"));
        h.append("<tr><td class=\"mono\">").append(e(s.get("segment"))).append("</td><td class=\"n\">")
            .append(lng(s.get("slot"))).append("</td><td class=\"n\">").append(esc(HumanUnits.bytes(cap)))
            .append("</td><td class=\"barcell\">");
        bar(cap > 0 ? (cap - free) / cap : 0, "info");
        h.append("</td><td class=\"n\">").append(esc(HumanUnits.bytes(free))).append("</td><td class=\"n\">")
            .append(esc(bytesOrDash(s.get("largest_free_bytes")))).append("</td><td class=\"n\">")
            .append(esc(HumanUnits.percent(num(s.get("fragmentation"))))).append("</td><td class=\"n\">")
            .append(esc(HumanUnits.count(lng(s.get("live_blocks"))))).append("</td><td>")
            .append(Boolean.TRUE.equals(s.get("draining")) ? "<span class=\"pill warning\">draining</span>" : "active")
            .append("</td></tr>");
      }
      h.append("</table>");
      more(segs.size());
      h.append("</section>\n");
    }

    // ---- counters, alert history, configuration --------------------------------------------

    private void countersSection() {
      h.append("<section class=\"card\"><h2>Errors and security events</h2><div class=\"cols2\">");
      counters("Errors by code", map(r.get("errors")), "No error since start.");
      counters("Security events by kind", map(r.get("security")), "No security event since start.");
      h.append("</div></section>");
    }

    private void counters(String title, Map<String, Object> m, String none) {
      h.append("<div><h3>").append(esc(title)).append("</h3>");
      List<Map.Entry<String, Object>> rows = byValue(m);
      rows.removeIf(en -> lng(en.getValue()) == 0);
      if (rows.isEmpty()) {
        h.append("<p class=\"allclear\">").append(esc(none)).append("</p></div>");
        return;
      }
      h.append("<table>");
      for (Map.Entry<String, Object> en : rows) {
        h.append("<tr><td class=\"mono\">").append(esc(en.getKey())).append("</td><td class=\"n\"><b>")
            .append(esc(HumanUnits.count(lng(en.getValue())))).append("</b></td></tr>");
      }
      h.append("</table>");
      int zero = m.size() - rows.size();
      if (zero > 0) {
        h.append("<p class=\"hint\">").append(zero).append(" other kinds at 0</p>");
      }
      h.append("</div>");
    }

    private void alertHistory() {
      List<Object> hist = new ArrayList<>(list(r.get("alert_history")));
      h.append("<section class=\"card\"><h2>Alert history</h2>");
      if (hist.isEmpty()) {
        h.append("<p class=\"empty\">No alert raised or cleared since start.</p></section>");
        return;
      }
      h.append("<table><tr><th>Time</th><th>Alert</th><th>Event</th><th>Message</th></tr>");
      for (int i = hist.size() - 1; i >= 0; i--) { // newest first
        Map<String, Object> m = map(hist.get(i));
        boolean raised = Boolean.TRUE.equals(m.get("raised"));
        h.append("<tr><td class=\"n\">").append(isNum(m.get("at_ms")) ? esc(HumanUnits.time(lng(m.get("at_ms")))) : "")
            .append("</td><td class=\"mono\">").append(e(m.get("name"))).append("</td><td>")
            .append(raised ? "<span class=\"pill warning\">raised</span>" : "<span class=\"pill ok\">cleared</span>")
            .append("</td><td>").append(e(m.get("message"))).append("</td></tr>");
      }
      h.append("</table></section>");
    }

    private void configSection() {
      h.append("<details class=\"card\"><summary><h2>Configuration (").append(config.size())
          .append(" keys)</h2></summary>");
      if (config.isEmpty()) {
        h.append("<p class=\"empty\">Not in this report.</p>");
      } else {
        h.append("<table class=\"config\">");
        for (Map.Entry<String, Object> en : config.entrySet()) {
          Object v = en.getValue();
          h.append("<tr><td class=\"mono\">").append(esc(en.getKey())).append("</td><td class=\"mono\">")
              .append(e(v));
          if (en.getKey().endsWith("_bytes") && isNum(v) && num(v) >= 1024) {
            h.append(" <span class=\"muted\">(").append(esc(HumanUnits.bytes(num(v)))).append(")</span>");
          }
          h.append("</td></tr>");
        }
        h.append("</table>");
      }
      h.append("</details>\n");
    }
  }

  private static final String CSS = String.join("",
      ":root{--ok:#2b8a3e;--warn:#e67700;--crit:#c92a2a;--info:#1971c2;--ink:#1f2933;--mute:#66727f;",
      "--line:#dde3ea;--bg:#f2f4f7;--track:#e6eaef}",
      "*{box-sizing:border-box}",
      "body{margin:0;background:var(--bg);color:var(--ink);font:14px/1.45 system-ui,-apple-system,'Segoe UI',",
      "Roboto,'Helvetica Neue',Arial,sans-serif}",
      "header.top{display:flex;justify-content:space-between;align-items:center;gap:24px;padding:16px 32px;",
      "background:#1f2933;color:#fff;border-bottom:6px solid var(--ok)}",
      "header.top.warning{border-bottom-color:var(--warn)}header.top.critical{border-bottom-color:var(--crit)}",
      ".brand{font-size:12px;letter-spacing:.08em;text-transform:uppercase;color:#9aa5b1}",
      "h1{margin:2px 0 4px;font-size:22px;font-weight:600;word-break:break-all}",
      ".meta{color:#cbd2d9;font-size:13px}.meta b{color:#fff;font-weight:600}",
      ".status{text-align:right;white-space:nowrap}",
      ".badge{display:inline-block;padding:4px 16px;border-radius:999px;font-weight:700;letter-spacing:.06em;",
      "font-size:16px;background:var(--ok);color:#fff}",
      ".badge.warning{background:var(--warn)}.badge.critical{background:var(--crit)}",
      ".status .sub{margin-top:4px;color:#cbd2d9;font-size:13px}",
      "main{max-width:1240px;margin:0 auto;padding:18px 24px 28px}",
      ".tiles{display:grid;grid-template-columns:repeat(auto-fit,minmax(140px,1fr));gap:12px;margin-bottom:16px}",
      ".tile{background:#fff;border:1px solid var(--line);border-radius:8px;padding:9px 12px;min-width:0}",
      ".tile .k{font-size:12px;color:var(--mute)}.tile .s{font-size:11.5px;color:var(--mute);white-space:nowrap;",
      "overflow:hidden;text-overflow:ellipsis}",
      ".tile .v{font-size:21px;font-weight:600;font-variant-numeric:tabular-nums}",
      ".card{background:#fff;border:1px solid var(--line);border-radius:8px;padding:14px 18px;margin-bottom:16px;",
      "min-width:0}",
      "h2{font-size:12.5px;text-transform:uppercase;letter-spacing:.07em;color:var(--mute);margin:0 0 10px}",
      "h3{font-size:13.5px;margin:0 0 6px}",
      ".cols{display:grid;grid-template-columns:1fr 1fr;gap:16px}.cols.capcols{grid-template-columns:9fr 11fr}",
      ".cols2,.charts{display:grid;grid-template-columns:1fr 1fr;gap:14px 28px}",
      ".grid4{display:grid;grid-template-columns:1fr 1fr;gap:18px 28px}",
      "@media (max-width:900px){.cols,.cols.capcols,.cols2,.charts,.grid4{grid-template-columns:1fr}}",
      ".note{border-left:4px solid var(--info);background:#edf4fc;border-radius:4px;padding:8px 12px;margin:8px 0}",
      ".note.warning{border-color:var(--warn);background:#fff6e6}",
      ".note.critical{border-color:var(--crit);background:#fdecec}",
      ".note .head{font-size:14px}.note .msg{margin-top:3px}.note .act{margin-top:4px;color:#3e4c59}",
      ".note.slim .act{margin-top:2px;font-size:13px}",
      ".note .when{float:right;color:var(--mute);font-size:12.5px}",
      ".pill{display:inline-block;padding:0 8px;border-radius:999px;font-size:11.5px;font-weight:700;",
      "text-transform:uppercase;letter-spacing:.04em;color:#fff;background:var(--info);vertical-align:1px}",
      ".pill.warning{background:var(--warn)}.pill.critical{background:var(--crit)}.pill.ok{background:var(--ok)}",
      ".allclear{color:var(--ok);font-weight:600;margin:4px 0}",
      ".warnline{color:var(--crit);font-weight:600;margin:8px 0 0}",
      "table{width:100%;border-collapse:collapse;font-size:13px}",
      "th{text-align:left;font-weight:600;color:var(--mute);border-bottom:1px solid var(--line);padding:4px 8px;",
      "white-space:nowrap}",
      "td{padding:4px 8px;border-bottom:1px solid #eef1f4;vertical-align:middle}",
      ".n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}",
      ".mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,'DejaVu Sans Mono',monospace;font-size:12px}",
      ".clip{max-width:280px;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}.clip.narrow{max-width:150px}",
      ".barcell{width:32%;min-width:90px}",
      ".barpct{display:flex;align-items:center;gap:8px}.barpct .bar{flex:1;min-width:50px}",
      ".barpct span{width:46px;text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}",
      ".bar{position:relative;height:9px;background:var(--track);border-radius:5px;overflow:hidden}",
      ".bar>span{position:absolute;left:0;top:0;bottom:0;background:var(--info);border-radius:5px}",
      ".bar>span.warning{background:var(--warn)}.bar>span.critical{background:var(--crit)}",
      "tr.hot td{color:var(--crit);font-weight:600}tr.dim td{color:#a0aab4}",
      ".muted{color:var(--mute)}.empty{color:var(--mute);font-style:italic;margin:4px 0}",
      ".hint{color:var(--mute);font-size:12px;margin:6px 0 0}.hint.top{margin:-4px 0 10px}",
      ".caprow{margin:4px 0 14px}.capline{display:flex;gap:8px;align-items:baseline;font-size:13.5px}",
      ".capline .right{margin-left:auto;white-space:nowrap}.capline b.warning{color:var(--warn)}",
      ".capline b.critical{color:var(--crit)}",
      ".stack{position:relative;height:20px;background:var(--track);border-radius:4px;margin:5px 0 5px;",
      "overflow:visible}.stack span{position:absolute;left:0;top:0;bottom:0;border-radius:4px}",
      ".stack .used{background:#1971c2}.stack .used.warning{background:var(--warn)}",
      ".stack .used.critical{background:var(--crit)}.stack .res{background:#a5c8ee}.stack .others{background:#adb5bd}",
      ".stack .mark{position:absolute;top:-4px;bottom:-4px;border-left:2px dashed var(--crit)}",
      ".legend{display:flex;flex-wrap:wrap;gap:2px 16px;font-size:12px;color:var(--mute);margin-bottom:4px}",
      ".legend b{color:var(--ink)}",
      ".sw{display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:5px;vertical-align:-1px}",
      ".sw.dash{border-top:2px dashed var(--crit);height:0;width:14px;border-radius:0;vertical-align:3px}",
      ".chartbox{min-width:0}",
      "svg.chart{width:100%;height:auto;display:block}svg.chart text{font-size:11px}",
      "svg.chart .ylab,svg.chart .xlab{fill:#66727f}svg.chart .ylab{text-anchor:end}",
      "svg.chart .xlab{text-anchor:middle}svg.chart .reflab{text-anchor:end;font-size:10.5px}",
      "svg.chart .grid{stroke:#edf0f3}svg.chart .axis,svg.chart .tick{stroke:#9aa5b1}",
      ".nodata{padding:48px 16px;text-align:center;background:#f8f9fb;border:1px dashed var(--line);",
      "border-radius:6px;color:var(--mute)}",
      ".poolsum{display:flex;flex-wrap:wrap;gap:6px 28px;align-items:center;margin-bottom:10px}",
      ".poolsum .k{color:var(--mute);font-size:12.5px}",
      ".fragbar{display:flex;align-items:center;gap:8px;flex:1;min-width:260px}.fragbar .bar{flex:1}",
      "details.card summary{cursor:pointer;list-style:none}details.card summary h2{display:inline;margin:0}",
      "details.card summary::before{content:'\\25B8  ';color:var(--mute)}",
      "details[open].card summary::before{content:'\\25BE  '}",
      "table.config{margin-top:8px}",
      "footer{color:var(--mute);font-size:12px;text-align:center;margin-top:8px}");
}

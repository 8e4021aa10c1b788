package io.snakepit.shm.cli;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * The text an operator reads for {@code stats}, {@code report} and {@code health}: aligned
 * tables, sizes in KiB/MiB, latencies in µs/ms, ages. Built from the decoded maps of
 * PROTOCOL.md; missing keys show as {@code -} rather than failing.
 */
final class ReportText {
  private ReportText() {}

  static String title(String text) {
    return "\n" + text + "\n";
  }

  /** The summary block of {@code :stats}. */
  static String statsSummary(Map<String, Object> s, String node) {
    StringBuilder sb = new StringBuilder();
    sb.append("node ").append(node).append(", up ")
        .append(HumanUnits.duration(TermValues.longOf(s, "uptime_ms", 0))).append('\n');
    TextTable t = new TextTable("WHAT", "VALUE");
    t.row("regions", HumanUnits.count(TermValues.longOf(s, "regions", 0)) + " (" + TermValues.longOf(s,
        "invalid_regions", 0) + " invalid), " + HumanUnits.count(TermValues.longOf(s, "holders", 0)) + " holder(s)");
    t.row("segments", TermValues.longOf(s, "segments", 0) + " (" + TermValues.longOf(s, "pooled_segments", 0)
        + " pooled, " + TermValues.longOf(s, "dedicated_segments", 0) + " dedicated)");
    t.row("bytes", "in use " + TextTable.bytes(s.get("bytes_in_use")) + ", reserved "
        + TextTable.bytes(s.get("bytes_reserved")));
    Map<String, Object> pool = TermValues.submap(s, "pool");
    t.row("pool", "capacity " + TextTable.bytes(pool.get("capacity_bytes")) + ", free "
        + TextTable.bytes(pool.get("free_bytes")) + ", largest free block "
        + TextTable.bytes(pool.get("largest_free_bytes")) + ", fragmentation "
        + HumanUnits.percent(TermValues.doubleOf(pool, "fragmentation", 0)));
    t.row("totals", HumanUnits.count(TermValues.longOf(s, "deallocated_total", 0)) + " deallocated, "
        + HumanUnits.count(TermValues.longOf(s, "holder_deaths_total", 0)) + " holder death(s), "
        + HumanUnits.count(TermValues.longOf(s, "dropped_messages", 0)) + " dropped message(s)");
    t.row("integrity", HumanUnits.count(TermValues.longOf(s, "headers_checked", 0)) + " header(s) checked, "
        + TermValues.longOf(s, "torn_write_repairs", 0) + " torn write(s) repaired");
    t.row("file system", "page " + TextTable.bytes(s.get("fs_page_bytes"))
        + (Boolean.TRUE.equals(s.get("hugetlbfs")) ? " (hugetlbfs)" : ""));
    t.row("subscribers", s.get("subscribers"));
    String fields = t.render(2);
    sb.append(fields.substring(fields.indexOf('\n') + 1));
    return sb.toString();
  }

  /** {@code headroom: [%{limit, value, used, ratio, by}]}. */
  static String headroom(List<Object> headroom) {
    TextTable t = new TextTable("LIMIT", ">VALUE", ">USED", ">USE", "BY");
    for (Object o : headroom) {
      Map<String, Object> h = TermValues.map(o, "headroom");
      String limit = TermValues.text(h, "limit");
      boolean bytes = limit.endsWith("_bytes");
      Object value = h.get("value");
      t.row(limit, value instanceof Number ? (bytes ? TextTable.bytes(value) : HumanUnits.count(
          ((Number) value).longValue())) : TextTable.orDash(value),
          bytes ? TextTable.bytes(h.get("used")) : HumanUnits.count(TermValues.longOf(h, "used", 0)),
          value instanceof Number ? HumanUnits.percent(TermValues.doubleOf(h, "ratio", 0)) : "-",
          TextTable.orDash(h.get("by")));
    }
    return title("headroom to each limit:") + (t.isEmpty() ? "  none\n" : t.render(2));
  }

  /** Latency per call ({@code _us}) or per operation ({@code _ns}), busiest first. */
  static String latency(String heading, Map<String, Object> byName, String unit) {
    TextTable t = new TextTable(heading.startsWith("calls") ? "CALL" : "OPERATION", ">COUNT", ">P50", ">P90",
        ">P99", ">P99.9", ">MAX");
    List<Map.Entry<String, Object>> entries = new ArrayList<>(byName.entrySet());
    entries.sort((a, b) -> Long.compare(TermValues.longOf(TermValues.map(b.getValue(), "latency"), "count", 0),
        TermValues.longOf(TermValues.map(a.getValue(), "latency"), "count", 0)));
    for (Map.Entry<String, Object> e : entries) {
      Map<String, Object> m = TermValues.map(e.getValue(), "latency");
      if (TermValues.longOf(m, "count", 0) == 0) {
        continue;
      }
      t.row(e.getKey(), HumanUnits.count(TermValues.longOf(m, "count", 0)), time(m, "p50" + unit, unit),
          time(m, "p90" + unit, unit), time(m, "p99" + unit, unit), time(m, "p999" + unit, unit),
          time(m, "max" + unit, unit));
    }
    return title(heading) + (t.isEmpty() ? "  none yet\n" : t.render(2));
  }

  private static String time(Map<String, Object> m, String key, String unit) {
    if (!(m.get(key) instanceof Number n)) {
      return "-";
    }
    return unit.equals("_ns") ? HumanUnits.nanos(n.doubleValue()) : HumanUnits.micros(n.doubleValue());
  }

  /** A map of counts as {@code a 3, b 1} (zero counts left out), or {@code none}. */
  static String counts(Map<String, Object> m) {
    List<String> parts = new ArrayList<>();
    for (Map.Entry<String, Object> e : m.entrySet()) {
      if (e.getValue() instanceof Number n && n.longValue() != 0) {
        parts.add(e.getKey() + " " + HumanUnits.count(n.longValue()));
      }
    }
    return parts.isEmpty() ? "none" : String.join(", ", parts);
  }

  /** A map of bytes by name, largest first, at most {@code max} rows. */
  static String bytesBy(String heading, String column, Map<String, Object> m, int max) {
    List<Map.Entry<String, Object>> entries = new ArrayList<>(m.entrySet());
    entries.sort((a, b) -> Long.compare(((Number) b.getValue()).longValue(), ((Number) a.getValue()).longValue()));
    TextTable t = new TextTable(column, ">BYTES");
    for (int i = 0; i < entries.size() && i < max; i++) {
      t.row(entries.get(i).getKey(), TextTable.bytes(entries.get(i).getValue()));
    }
    String more = entries.size() > max ? "  ... and " + (entries.size() - max) + " more (--json lists all)\n" : "";
    return title(heading) + (t.isEmpty() ? "  none\n" : t.render(2) + more);
  }

  /** {@code top_holders: [%{holder, bytes, regions}]}. */
  static String topHolders(List<Object> holders, int max) {
    TextTable t = new TextTable("HOLDER", ">BYTES", ">REGIONS");
    for (int i = 0; i < holders.size() && i < max; i++) {
      Map<String, Object> h = TermValues.map(holders.get(i), "holder");
      t.row(TermValues.holder(h.get("holder")), TextTable.bytes(h.get("bytes")), h.get("regions"));
    }
    return title("top holders by bytes:") + (t.isEmpty() ? "  none\n" : t.render(2));
  }

  /** {@code pool.segments}: one row per pooled segment. */
  static String poolSegments(List<Object> segments, int max) {
    TextTable t = new TextTable("SEGMENT", ">SLOT", ">CAPACITY", ">FREE", ">LARGEST FREE", ">FRAG", ">BLOCKS",
        "DRAINING");
    for (int i = 0; i < segments.size() && i < max; i++) {
      Map<String, Object> s = TermValues.map(segments.get(i), "segment");
      t.row(s.get("segment"), s.get("slot"), TextTable.bytes(s.get("capacity_bytes")),
          TextTable.bytes(s.get("free_bytes")), TextTable.bytes(s.get("largest_free_bytes")),
          HumanUnits.percent(TermValues.doubleOf(s, "fragmentation", 0)), s.get("live_blocks"),
          Boolean.TRUE.equals(s.get("draining")) ? "yes" : "no");
    }
    String more = segments.size() > max ? "  ... and " + (segments.size() - max) + " more (--json lists all)\n" : "";
    return title("pooled segments:") + (t.isEmpty() ? "  none\n" : t.render(2) + more);
  }

  /** Raised alerts with their recommendations. */
  static String alerts(List<Object> alerts, long now) {
    if (alerts.isEmpty()) {
      return title("alerts:") + "  none raised\n";
    }
    StringBuilder sb = new StringBuilder(title("alerts:"));
    for (Object o : alerts) {
      Map<String, Object> a = TermValues.map(o, "alert");
      sb.append("  ").append(TermValues.text(a, "severity").toUpperCase(java.util.Locale.ROOT)).append(' ')
          .append(a.get("name")).append(" (since ").append(TextTable.ago(TermValues.longOf(a, "since_ms", 0), now))
          .append("): ").append(a.get("message")).append('\n')
          .append("    -> ").append(a.get("recommendation")).append('\n');
    }
    return sb.toString();
  }
}

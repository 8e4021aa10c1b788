package io.snakepit.shm.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

class HtmlReportTest {
  private static final long GENERATED_MS = 1_793_502_765_000L; // 2026-11-01 03:12:45 UTC
  private static final long MIB = 1 << 20;
  private static final String EVIL_TENANT = "<script>alert(1)</script>";

  @SafeVarargs
  private static Map<String, Object> map(Object... kv) {
    Map<String, Object> m = new LinkedHashMap<>();
    for (int i = 0; i < kv.length; i += 2) {
      m.put((String) kv[i], kv[i + 1]);
    }
    return m;
  }

  private static List<Object> samples(int n) {
    List<Object> out = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      out.add(map("at_ms", GENERATED_MS - (n - 1 - i) * 5000L, "bytes_in_use", (100 + 4L * i) * MIB,
          "bytes_reserved", (128 + 4L * i) * MIB, "regions", 200L + 10 * i, "holders", 5L + i % 3,
          "calls", 400L + 25 * i, "errors", i == 3 ? 2L : 0L, "p99_us", 180L + 40 * i));
    }
    return out;
  }

  /** A report as the CLI decodes it from a node under some load, with {@code n} samples. */
  private static Map<String, Object> report(int n) {
    Map<String, Object> r = new LinkedHashMap<>();
    r.put("generated_ms", GENERATED_MS);
    r.put("node", "snakepit_shm_demo@localhost");
    r.put("shm_dir", "/dev/shm");
    r.put("uptime_ms", 3_723_000L);
    r.put("capacity", map("shm_dir_total_bytes", 2048 * MIB, "shm_dir_free_bytes", 1800 * MIB,
        "max_total_bytes", 1024 * MIB, "bytes_in_use", 120 * MIB, "bytes_reserved", 160 * MIB));
    r.put("usage", map("regions", 240L, "holders", 6L, "segments", 5L, "pooled_segments", 4L,
        "dedicated_segments", 1L,
        "bytes_by_tenant", map("acme", 80 * MIB, EVIL_TENANT, 40 * MIB),
        "bytes_by_session", map("job-17", 64 * MIB, "job-18", 56 * MIB),
        "bytes_by_segment", map("/snkAAAAAAAAAAAAAAAAAAAAAA", 96 * MIB, "/snkBBBBBBBBBBBBBBBBBBBBBB", 24 * MIB),
        "top_holders", List.of(map("holder", "<0.123.0>", "bytes", 90 * MIB, "regions", 180L),
            map("holder", List.of("os_pid", 4242L), "bytes", 30 * MIB, "regions", 60L))));
    r.put("headroom", List.of(
        map("limit", "max_total_bytes", "value", 1024 * MIB, "used", 120 * MIB, "ratio", 0.1171875, "by", null),
        map("limit", "max_regions", "value", 1_000_000L, "used", 240L, "ratio", 0.00024, "by", null),
        map("limit", "max_tenant_bytes", "value", 128 * MIB, "used", 120 * MIB, "ratio", 0.9375, "by", "acme"),
        map("limit", "max_session_bytes", "value", "infinity", "used", 64 * MIB, "ratio", 0.0, "by", "job-17")));
    r.put("pool", map("capacity_bytes", 256 * MIB, "free_bytes", 136 * MIB, "largest_free_bytes", 48 * MIB,
        "fragmentation", 0.647, "size_classes", 96L, "largest_block_bytes", 16 * MIB, "segments",
        List.of(map("segment", "/snkAAAAAAAAAAAAAAAAAAAAAA", "slot", 0L, "capacity_bytes", 64 * MIB,
            "free_bytes", 16 * MIB, "largest_free_bytes", 8 * MIB, "fragmentation", 0.5, "live_blocks", 120L,
            "draining", false))));
    r.put("latency", map(
        "calls", map("allocate", map("count", 5210L, "p50_us", 42L, "p90_us", 95L, "p99_us", 1500L,
            "p999_us", 4200L, "max_us", 12_000L)),
        "operations", map("allocate", map("count", 5210L, "p50_ns", 850L, "p90_ns", 2300L, "p99_ns", 12_500L,
            "p999_ns", 80_000L, "max_ns", 3_100_000L))));
    r.put("errors", map("forbidden", 3L, "not_found", 0L, "busy", 0L));
    r.put("security", map("bad_token", 3L, "tenant_denied", 0L));
    r.put("alerts", List.of(map("name", "capacity.max_tenant_bytes", "severity", "warning", "value", 93.75,
        "threshold", 90.0, "message", "max_tenant_bytes is 93.8% used: 120 MiB of 128 MiB (largest: acme) & \"more\"",
        "recommendation", "Raise max_tenant_bytes from 134217728 to 201326592", "since_ms", GENERATED_MS - 65_000)));
    r.put("alert_history", List.of(map("name", "capacity.max_tenant_bytes", "raised", true,
        "at_ms", GENERATED_MS - 65_000, "message", "max_tenant_bytes is 93.8% used")));
    r.put("recommendations", List.of(map("id", "bad_tokens", "severity", "warning",
        "message", "3 acquire(s) came without the region's token", "action", "Pass descriptors, not ids")));
    r.put("series", samples(n));
    r.put("config", map("max_total_bytes", 1024 * MIB, "alert_capacity_percent", 90.0, "alert_call_p99_us", 10_000L,
        "acquire_token", "required"));
    return r;
  }

  private static int count(String haystack, String needle) {
    int n = 0;
    for (int i = haystack.indexOf(needle); i >= 0; i = haystack.indexOf(needle, i + needle.length())) {
      n++;
    }
    return n;
  }

  @Test
  void aPageWithAPlotPerSeriesGroup() {
    String html = HtmlReport.render(report(6));
    assertTrue(html.startsWith("<!DOCTYPE html>"), html.substring(0, 40));
    assertTrue(html.trim().endsWith("</html>"));
    for (String tag : new String[] {"svg", "table", "section", "div", "tr", "details"}) {
      assertEquals(count(html, "<" + tag + " ") + count(html, "<" + tag + ">"), count(html, "</" + tag + ">"),
          "balanced <" + tag + ">");
    }
    assertEquals(4, count(html, "<svg "), "one plot each: bytes, regions/holders, calls, p99");
    Matcher svg = Pattern.compile("<svg .*?</svg>", Pattern.DOTALL).matcher(html);
    int plots = 0;
    while (svg.find()) {
      plots++;
      Matcher points = Pattern.compile("<polyline points=\"([^\"]*)\"").matcher(svg.group());
      assertTrue(points.find(), "plot " + plots + " has a line");
      assertEquals(6, points.group(1).split(" ").length, "one point per sample");
      assertTrue(svg.group().contains("03:12:45") || svg.group().contains("03:12:40"), "x axis has clock times");
    }
    assertFalse(html.contains("Not enough samples"));
    assertFalse(html.toLowerCase().contains("<script"), "no script at all");
    assertFalse(html.contains("http://") && !html.contains("http://www.w3.org/2000/svg"), "no external resource");
  }

  @Test
  void textFromTheNodeIsEscaped() {
    String html = HtmlReport.render(report(6));
    assertFalse(html.contains(EVIL_TENANT));
    assertTrue(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"), "the tenant is shown, escaped");
    assertEquals(count(html, "alert(1)"), count(html, "&lt;script&gt;alert(1)&lt;/script&gt;"));
    assertTrue(html.contains("&lt;0.123.0&gt;"), "pids are escaped");
    assertFalse(html.contains("<0.123.0>"));
    assertTrue(html.contains("(largest: acme) &amp; &quot;more&quot;"), "messages are escaped");
    assertTrue(html.contains("os_pid 4242"), "a decoded {:os_pid, n} holder reads as text");

    Map<String, Object> r = report(3);
    r.put("node", "\"><img src=x onerror=alert(2)>");
    String injected = HtmlReport.render(r);
    assertFalse(injected.contains("<img"));
    assertTrue(injected.contains("&quot;&gt;&lt;img src=x onerror=alert(2)&gt;"));
  }

  @Test
  void statusAlertsAndRecommendationsAreUpFront() {
    String html = HtmlReport.render(report(6));
    assertTrue(html.contains("<span class=\"badge warning\">WARNING</span>"));
    assertTrue(html.contains("1 alert raised &middot; worst: warning"));
    assertTrue(html.contains("capacity.max_tenant_bytes"));
    assertTrue(html.contains("Raise max_tenant_bytes from 134217728 to 201326592"));
    assertTrue(html.contains("Pass descriptors, not ids"));
    assertTrue(html.indexOf("Alerts raised now") < html.indexOf("Over time"), "alerts come before the plots");

    Map<String, Object> calm = report(6);
    calm.put("alerts", List.of());
    assertTrue(HtmlReport.render(calm).contains("<span class=\"badge ok\">OK</span>"));
    Map<String, Object> bad = report(6);
    bad.put("alerts", List.of(map("name", "capacity.shm_dir", "severity", "critical", "message", "full")));
    assertTrue(HtmlReport.render(bad).contains("<span class=\"badge critical\">CRITICAL</span>"));
  }

  @Test
  void numbersAreInHumanUnits() {
    String html = HtmlReport.render(report(6));
    assertTrue(html.contains(">120 MiB<"), "bytes in use");
    assertTrue(html.contains("1 GiB"), "max_total_bytes");
    assertTrue(html.contains("11.7 %"), "share of max_total_bytes");
    assertTrue(html.contains("1.5 ms"), "call p99 of 1500 µs");
    assertTrue(html.contains("42 µs"), "call p50");
    assertTrue(html.contains("850 ns"), "operation p50");
    assertTrue(html.contains("12.5 µs"), "operation p99 of 12500 ns");
    assertTrue(html.contains("3.1 ms"), "operation max of 3.1 ms");
    assertTrue(html.contains("5,210"), "counts have separators");
    assertTrue(html.contains("up 1 h 2 min"), "uptime");
    assertTrue(html.contains("2026-11-01 03:12:45 UTC"), "generation time");
    assertTrue(html.contains("since 03:11:40"), "alert time");
    assertTrue(html.contains("64.7 %"), "pool fragmentation");
    assertTrue(html.contains("no limit"), "an :infinity limit");
    assertTrue(html.contains("1,000,000"), "a count limit");
  }

  @Test
  void tooFewSamplesSayWhy() {
    for (int n : new int[] {0, 1}) {
      String html = HtmlReport.render(report(n));
      assertTrue(html.contains("Not enough samples yet"), "with " + n + " samples");
      assertEquals(0, count(html, "<svg"), "no plot with " + n + " samples");
      assertTrue(html.contains("(" + n + (n == 1 ? " sample" : " samples") + " so far)"));
    }
  }

  @Test
  void anEmptyOrPartialReportStillRenders() {
    String html = HtmlReport.render(Map.of());
    assertTrue(html.startsWith("<!DOCTYPE html>"));
    assertTrue(html.contains("(unknown node)"));
    assertTrue(html.contains("Not enough samples yet"));
    assertTrue(html.contains("No alert raised"));
    assertTrue(HtmlReport.render(map("node", "n@h", "series", "not a list", "capacity", 5L)).contains("n@h"));
  }

  @Test
  void axisStepsAreRound() {
    assertEquals(5000, SvgChart.timeStep(25_000));
    assertEquals(60_000, SvgChart.timeStep(300_000));
    assertEquals(600_000, SvgChart.timeStep(3_600_000));
    assertEquals(2.5, SvgChart.niceStep(2.1));
    assertEquals(50, SvgChart.niceStep(31));
    assertEquals("1.5 KiB", HumanUnits.bytes(1536));
    assertEquals("0 B", HumanUnits.bytes(0));
  }
}

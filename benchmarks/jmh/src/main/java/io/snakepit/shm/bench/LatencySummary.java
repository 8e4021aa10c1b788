package io.snakepit.shm.bench;

import java.util.Collection;
import java.util.Map;
import java.util.TreeMap;
import org.openjdk.jmh.infra.BenchmarkParams;
import org.openjdk.jmh.results.Result;
import org.openjdk.jmh.results.RunResult;
import org.openjdk.jmh.runner.options.TimeValue;
import org.openjdk.jmh.util.Statistics;

/**
 * Condenses JMH results into one line per (benchmark, live regions): p50, p99, p99.9
 * (SampleTime), mean (AverageTime), allocation per operation when {@code -prof gc} ran;
 * then the p99 ratio of the largest to the smallest live count against the goals
 * (p99 under 2 µs at 100k live regions, at most 1.2× the figure at 1k).
 */
final class LatencySummary {
  static final double GOAL_P99_US = 2.0;
  static final double GOAL_RATIO = 1.2;

  /** Figures of one benchmark at one live-region count, in µs (NaN where not measured). */
  private static final class Row {
    double p50Us = Double.NaN;
    double p99Us = Double.NaN;
    double p999Us = Double.NaN;
    double meanUs = Double.NaN;
    double allocBytesPerOp = Double.NaN;
  }

  /** benchmark short name → live regions → row. */
  private final Map<String, TreeMap<Integer, Row>> rows = new TreeMap<>();

  private LatencySummary() {}

  static LatencySummary of(Collection<RunResult> results) {
    LatencySummary s = new LatencySummary();
    for (RunResult rr : results) {
      BenchmarkParams p = rr.getParams();
      String live = p.getParam("liveRegions");
      if (live == null) {
        continue;
      }
      String name = p.getBenchmark().substring(p.getBenchmark().lastIndexOf('.', p.getBenchmark().lastIndexOf('.') - 1) + 1);
      Row row = s.rows.computeIfAbsent(name, k -> new TreeMap<>()).computeIfAbsent(Integer.parseInt(live), k -> new Row());
      Result<?> primary = rr.getPrimaryResult();
      double toUs = toMicros(primary.getScoreUnit());
      Statistics st = primary.getStatistics();
      switch (p.getMode()) {
        case SampleTime -> {
          row.p50Us = st.getPercentile(50) * toUs;
          row.p99Us = st.getPercentile(99) * toUs;
          row.p999Us = st.getPercentile(99.9) * toUs;
        }
        case AverageTime -> row.meanUs = st.getMean() * toUs;
        default -> {
          // throughput / single-shot: not summarised
        }
      }
      Result<?> alloc = rr.getSecondaryResults().get("gc.alloc.rate.norm");
      if (alloc != null) {
        row.allocBytesPerOp = alloc.getScore();
      }
    }
    return s;
  }

  String render() {
    StringBuilder b = new StringBuilder();
    if (rows.isEmpty()) {
      return "== registry latency: no results with a liveRegions parameter (a benchmark failed? see the log above;"
          + " -foe true makes JMH stop at the first error) ==\n";
    }
    b.append("== registry latency in µs (p50/p99/p99.9 from SampleTime, mean from AverageTime) ==\n");
    b.append(String.format("%-38s %8s %9s %9s %9s %9s %10s%n", "benchmark", "live", "p50", "p99", "p99.9", "mean",
        "alloc B/op"));
    for (Map.Entry<String, TreeMap<Integer, Row>> e : rows.entrySet()) {
      for (Map.Entry<Integer, Row> r : e.getValue().entrySet()) {
        Row row = r.getValue();
        b.append(String.format("%-38s %8d %9s %9s %9s %9s %10s%n", e.getKey(), r.getKey(), fmt(row.p50Us),
            fmt(row.p99Us), fmt(row.p999Us), fmt(row.meanUs), fmtBytes(row.allocBytesPerOp)));
      }
    }
    for (Map.Entry<String, TreeMap<Integer, Row>> e : rows.entrySet()) {
      TreeMap<Integer, Row> byLive = e.getValue();
      if (byLive.size() < 2) {
        continue;
      }
      Row low = byLive.firstEntry().getValue();
      Row high = byLive.lastEntry().getValue();
      double ratio = high.p99Us / low.p99Us;
      b.append(String.format("%s: p99 ratio %d/%d live = %s (goal <= %.1f: %s); p99 at %d = %s µs (goal < %.0f µs: %s)%n",
          e.getKey(), byLive.lastKey(), byLive.firstKey(), fmt(ratio), GOAL_RATIO, verdict(ratio <= GOAL_RATIO, ratio),
          byLive.lastKey(), fmt(high.p99Us), GOAL_P99_US, verdict(high.p99Us < GOAL_P99_US, high.p99Us)));
    }
    return b.toString();
  }

  private static String verdict(boolean met, double value) {
    return Double.isNaN(value) ? "not measured" : met ? "met" : "MISSED";
  }

  private static String fmt(double v) {
    return Double.isNaN(v) ? "-" : String.format("%.3f", v);
  }

  private static String fmtBytes(double v) {
    return Double.isNaN(v) ? "-" : String.format("%.0f", v);
  }

  /** Factor from a JMH score unit like "us/op" or "ns/op" to µs. */
  private static double toMicros(String unit) {
    String u = unit.endsWith("/op") ? unit.substring(0, unit.length() - 3) : unit;
    return switch (u) {
      case "ns" -> 1e-3;
      case "us" -> 1.0;
      case "ms" -> 1e3;
      case "s" -> 1e6;
      default -> throw new IllegalArgumentException("unexpected score unit " + unit
          + " (expected a time per operation; " + TimeValue.class.getSimpleName() + " units ns/us/ms/s)");
    };
  }
}

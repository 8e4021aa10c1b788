package io.snakepit.shm.registry;

import io.snakepit.shm.segment.OperationTimer;
import java.util.LinkedHashMap;
import java.util.Map;
import org.HdrHistogram.Histogram;

/**
 * Latency histograms (HdrHistogram, nanoseconds, 3 significant digits) of the registry's
 * own operations, without the node's decoding and encoding: {@code allocate},
 * {@code acquire}, {@code release}, {@code free}, {@code map} (create, reserve and map a
 * segment), {@code zero} (clear freed memory) and {@code sweep} (look for stale segments).
 *
 * <p>Thread-safety: none; used on the registry's owner thread only.
 */
public final class OperationStats implements OperationTimer {
  /** The operations, in report order. */
  public static final String[] OPERATIONS = {"allocate", "acquire", "release", "free", "map", "zero", "sweep"};
  private static final long HIGHEST_TRACKABLE_NS = 600_000_000_000L;

  private final Map<String, Histogram> byOperation = new LinkedHashMap<>();

  public OperationStats() {
    for (String op : OPERATIONS) {
      byOperation.put(op, new Histogram(HIGHEST_TRACKABLE_NS, 3));
    }
  }

  @Override
  public void record(String operation, long elapsedNs) {
    Histogram h = byOperation.get(operation);
    if (h != null) {
      h.recordValue(Math.min(Math.max(elapsedNs, 0), HIGHEST_TRACKABLE_NS));
    }
  }

  /** The histogram of one operation (live; read on the owner thread only). */
  public Histogram histogram(String operation) {
    return byOperation.get(operation);
  }

  /** {@code operation → %{count, p50_ns, p90_ns, p99_ns, p999_ns, max_ns}}, every operation present. */
  public Map<String, Object> asMap() {
    Map<String, Object> out = new LinkedHashMap<>();
    for (Map.Entry<String, Histogram> e : byOperation.entrySet()) {
      out.put(e.getKey(), summary(e.getValue(), 1, "_ns"));
    }
    return out;
  }

  /**
   * {@code %{count, p50<unit>, p90<unit>, p99<unit>, p999<unit>, max<unit>}} of a histogram
   * of nanoseconds, each value divided by {@code divisor}.
   */
  public static Map<String, Object> summary(Histogram h, long divisor, String unit) {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("count", h.getTotalCount());
    m.put("p50" + unit, h.getValueAtPercentile(50) / divisor);
    m.put("p90" + unit, h.getValueAtPercentile(90) / divisor);
    m.put("p99" + unit, h.getValueAtPercentile(99) / divisor);
    m.put("p999" + unit, h.getValueAtPercentile(99.9) / divisor);
    m.put("max" + unit, h.getMaxValue() / divisor);
    return m;
  }
}

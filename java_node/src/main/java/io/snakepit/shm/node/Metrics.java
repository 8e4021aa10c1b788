package io.snakepit.shm.node;

import io.snakepit.shm.registry.ErrorCode;
import java.util.EnumMap;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.TreeMap;
import org.HdrHistogram.Histogram;

/**
 * Per-call counts and latency histograms (HdrHistogram, nanoseconds, 3 significant
 * digits), error counts by code, and dropped messages.
 *
 * <p>Thread-safety: none; written and read by the node's owner thread only.
 */
final class Metrics {
  private static final long HIGHEST_TRACKABLE_NS = 60_000_000_000L;

  private final Map<String, Histogram> latencyByCall = new TreeMap<>();
  private final EnumMap<ErrorCode, Long> errorsByCode = new EnumMap<>(ErrorCode.class);
  private long droppedMessages;
  private long holderExits;
  private long tornRepairs;
  /** Every call since the last {@link #takeWindow()}: the latency alert's window. */
  private Histogram window = new Histogram(HIGHEST_TRACKABLE_NS, 3);
  /** Every call since the last {@link #takeSampleWindow()}: the usage series' interval. */
  private Histogram sampleWindow = new Histogram(HIGHEST_TRACKABLE_NS, 3);
  private long callsTotal;

  void recordCall(String call, long elapsedNs) {
    long ns = Math.min(Math.max(elapsedNs, 0), HIGHEST_TRACKABLE_NS);
    latencyByCall.computeIfAbsent(call, k -> new Histogram(HIGHEST_TRACKABLE_NS, 3)).recordValue(ns);
    window.recordValue(ns);
    sampleWindow.recordValue(ns);
    callsTotal++;
  }

  /** The calls since the last take (and starts a new window). */
  Histogram takeWindow() {
    Histogram w = window;
    window = new Histogram(HIGHEST_TRACKABLE_NS, 3);
    return w;
  }

  /** The calls since the last sample (and starts a new interval). */
  Histogram takeSampleWindow() {
    Histogram w = sampleWindow;
    sampleWindow = new Histogram(HIGHEST_TRACKABLE_NS, 3);
    return w;
  }

  /** Calls answered since start. */
  long callsTotal() {
    return callsTotal;
  }

  /** Errors answered since start, all codes. */
  long errorsTotal() {
    long n = 0;
    for (long v : errorsByCode.values()) {
      n += v;
    }
    return n;
  }

  /** Errors of one code since start. */
  long errors(ErrorCode code) {
    return errorsByCode.getOrDefault(code, 0L);
  }

  void recordError(ErrorCode code) {
    errorsByCode.merge(code, 1L, Long::sum);
  }

  void recordDropped() {
    droppedMessages++;
  }

  void recordHolderExit() {
    holderExits++;
  }

  long droppedMessages() {
    return droppedMessages;
  }

  /** {@code %{call => %{count:, p50_us:, p90_us:, p99_us:, p999_us:, max_us:}}} as Java maps. */
  Map<String, Object> callsAsMap() {
    Map<String, Object> out = new LinkedHashMap<>();
    for (Map.Entry<String, Histogram> e : latencyByCall.entrySet()) {
      Histogram h = e.getValue();
      Map<String, Object> m = new LinkedHashMap<>();
      m.put("count", h.getTotalCount());
      m.put("p50_us", h.getValueAtPercentile(50) / 1000);
      m.put("p90_us", h.getValueAtPercentile(90) / 1000);
      m.put("p99_us", h.getValueAtPercentile(99) / 1000);
      m.put("p999_us", h.getValueAtPercentile(99.9) / 1000);
      m.put("max_us", h.getMaxValue() / 1000);
      out.put(e.getKey(), m);
    }
    return out;
  }

  Map<String, Object> errorsAsMap() {
    Map<String, Object> out = new LinkedHashMap<>();
    for (Map.Entry<ErrorCode, Long> e : errorsByCode.entrySet()) {
      out.put(e.getKey().atom(), e.getValue());
    }
    return out;
  }

  void recordTornRepair() {
    tornRepairs++;
  }

  /** Writes that found the counter odd (a writer had died mid-write) and repaired it. */
  long tornRepairs() {
    return tornRepairs;
  }

  long holderExits() {
    return holderExits;
  }
}

package io.snakepit.shm.node;

import io.snakepit.shm.registry.RegionRegistry;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Usage over time for the report's plots: every {@value #INTERVAL_MS} ms a sample of bytes
 * in use and reserved, regions, holders, calls and errors in the interval and the p99 of
 * those calls; the last {@value #CAPACITY} samples (an hour) are kept.
 *
 * <p>Thread-safety: none; the node's owner thread only.
 */
final class UsageSeries {
  static final long INTERVAL_MS = 5000;
  static final int CAPACITY = 720;

  /** One sample. */
  record Sample(long atMs, long bytesInUse, long bytesReserved, int regions, int holders, long calls, long errors,
      long p99Us) {}

  private final RegionRegistry registry;
  private final Metrics metrics;
  private final ArrayDeque<Sample> samples = new ArrayDeque<>();
  private long nextSampleMs;
  private long callsAtLast;
  private long errorsAtLast;

  UsageSeries(RegionRegistry registry, Metrics metrics) {
    this.registry = registry;
    this.metrics = metrics;
  }

  long nextSampleMs() {
    return nextSampleMs;
  }

  /** Takes a sample when one is due. */
  void sample(long nowMs) {
    if (nowMs < nextSampleMs) {
      return;
    }
    nextSampleMs = nowMs + INTERVAL_MS;
    long calls = metrics.callsTotal();
    long errors = metrics.errorsTotal();
    if (samples.size() == CAPACITY) {
      samples.removeFirst();
    }
    samples.addLast(new Sample(nowMs, registry.bytesInUse(), registry.bytesReserved(), registry.regionCount(),
        registry.holderCount(), calls - callsAtLast, errors - errorsAtLast,
        metrics.takeSampleWindow().getValueAtPercentile(99) / 1000));
    callsAtLast = calls;
    errorsAtLast = errors;
  }

  /** The samples, oldest first, as report maps. */
  List<Object> asList() {
    List<Object> out = new ArrayList<>(samples.size());
    for (Sample s : samples) {
      Map<String, Object> m = new LinkedHashMap<>();
      m.put("at_ms", s.atMs());
      m.put("bytes_in_use", s.bytesInUse());
      m.put("bytes_reserved", s.bytesReserved());
      m.put("regions", (long) s.regions());
      m.put("holders", (long) s.holders());
      m.put("calls", s.calls());
      m.put("errors", s.errors());
      m.put("p99_us", s.p99Us());
      out.add(m);
    }
    return out;
  }
}

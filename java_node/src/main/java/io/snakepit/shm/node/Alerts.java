package io.snakepit.shm.node;

import io.snakepit.shm.platform.PlatformException;
import io.snakepit.shm.platform.SharedMemoryPlatform;
import io.snakepit.shm.registry.RegionRegistry;
import io.snakepit.shm.registry.ShmConfig;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.HdrHistogram.Histogram;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Checks the alert thresholds once a second ({@code alert_capacity_percent},
 * {@code alert_fragmentation_percent}, {@code alert_call_p99_us}) and keeps the alerts
 * that are raised. Crossing a threshold logs a WARN line with a recommendation (what to
 * raise, by how much) and yields a transition the node forwards to subscribers; going
 * back under it logs an INFO line and yields a {@code cleared} transition.
 *
 * <p>Capacity covers every limit (the largest holder, session and tenant for the
 * per-holder, per-session and per-tenant ones) and the shm dir's own free space.
 * Fragmentation is the pooled memory's (1 - largest free block / free bytes), checked
 * only when at least one pooled segment's worth of bytes is free. Latency is the p99 of
 * every call over a window of {@value #LATENCY_WINDOW_MS} ms with at least
 * {@value #LATENCY_MIN_CALLS} calls.
 *
 * <p>Thread-safety: none; the node's owner thread only.
 */
final class Alerts {
  private static final Logger LOG = LoggerFactory.getLogger(Alerts.class);
  static final long INTERVAL_MS = 1000;
  static final long LATENCY_WINDOW_MS = 10_000;
  static final long LATENCY_MIN_CALLS = 100;
  private static final int RECENT_TRANSITIONS = 32;
  private static final long MIB = 1 << 20;

  /** An alert raised or cleared. */
  record Transition(boolean raised, Alert alert, long atMs) {}

  private final RegionRegistry registry;
  private final Metrics metrics;
  private final SharedMemoryPlatform platform;
  private final Path shmDir;
  private final Map<String, Alert> active = new LinkedHashMap<>();
  private final ArrayDeque<Transition> recent = new ArrayDeque<>();
  private long nextCheckMs;
  private long windowStartMs = -1;
  private Alert latency;

  Alerts(RegionRegistry registry, Metrics metrics, SharedMemoryPlatform platform, Path shmDir) {
    this.registry = registry;
    this.metrics = metrics;
    this.platform = platform;
    this.shmDir = shmDir;
  }

  /** When the next check is due. */
  long nextCheckMs() {
    return nextCheckMs;
  }

  /** Checks every threshold when due; returns what was raised or cleared. */
  List<Transition> check(long nowMs) {
    if (nowMs < nextCheckMs) {
      return List.of();
    }
    nextCheckMs = nowMs + INTERVAL_MS;
    ShmConfig c = registry.config();
    Map<String, Alert> now = new LinkedHashMap<>();
    capacity(c, now, nowMs);
    fragmentation(c, now, nowMs);
    latency(c, now, nowMs);
    List<Transition> out = new ArrayList<>();
    for (Alert a : now.values()) {
      Alert was = active.get(a.name());
      if (was == null) {
        active.put(a.name(), a);
        LOG.warn("alert {} raised: {}; recommendation: {}", a.name(), a.message(), a.recommendation());
        out.add(remember(new Transition(true, a, nowMs)));
      } else {
        // keep when it was first raised; refresh the figures
        active.put(a.name(), new Alert(a.name(), a.severity(), a.value(), a.threshold(), a.message(),
            a.recommendation(), was.sinceMs()));
      }
    }
    for (Alert a : new ArrayList<>(active.values())) {
      if (!now.containsKey(a.name())) {
        active.remove(a.name());
        LOG.info("alert {} cleared (raised {} ms ago)", a.name(), nowMs - a.sinceMs());
        out.add(remember(new Transition(false, a, nowMs)));
      }
    }
    return out;
  }

  private Transition remember(Transition t) {
    if (recent.size() == RECENT_TRANSITIONS) {
      recent.removeFirst();
    }
    recent.addLast(t);
    return t;
  }

  /** The alerts raised now, oldest first. */
  List<Alert> active() {
    return new ArrayList<>(active.values());
  }

  /** The last raises and clears, oldest first. */
  List<Transition> recent() {
    return new ArrayList<>(recent);
  }

  private void capacity(ShmConfig c, Map<String, Alert> out, long nowMs) {
    double threshold = c.alertCapacityPercent();
    for (RegionRegistry.Headroom h : registry.headroom()) {
      double pct = h.ratio() * 100;
      if (pct < threshold) {
        continue;
      }
      String who = h.by() == null ? "" : " (largest: " + h.by() + ")";
      String name = "capacity." + h.limitName();
      String message = String.format("%s is %.1f%% used: %s of %s%s", h.limitName(), pct, amount(h), limit(h), who);
      out.put(name, new Alert(name, pct >= 99 ? "critical" : "warning", pct, threshold, message,
          capacityAdvice(h), nowMs));
    }
    try {
      SharedMemoryPlatform.FsStat fs = platform.statFs(shmDir);
      if (fs.totalBytes() > 0) {
        double pct = 100.0 * (fs.totalBytes() - fs.availableBytes()) / fs.totalBytes();
        if (pct >= threshold) {
          io.snakepit.shm.platform.OsFamily family = platform.family();
          out.put("capacity.shm_dir", new Alert("capacity.shm_dir", pct >= 99 ? "critical" : "warning", pct,
              threshold, io.snakepit.shm.platform.PlatformText.capacityAlertMessage(family, shmDir, pct, fs),
              io.snakepit.shm.platform.PlatformText.capacityAlertAdvice(family, shmDir, fs), nowMs));
        }
      }
    } catch (PlatformException e) {
      // health reports an unreadable shm dir
    }
  }

  private static String amount(RegionRegistry.Headroom h) {
    return h.limitName().equals("max_regions") ? h.used() + " regions" : h.used() / MIB + " MiB";
  }

  private static String limit(RegionRegistry.Headroom h) {
    return h.limitName().equals("max_regions") ? String.valueOf(h.limit()) : h.limit() / MIB + " MiB";
  }

  /** What to raise and to what: half as much again as what is used now, rounded up. */
  static String capacityAdvice(RegionRegistry.Headroom h) {
    long target = roundUp(Math.max(h.limit(), h.used()) + Math.max(h.limit(), h.used()) / 2, h.limitName());
    String set = "{:config, {:set, %{" + h.limitName() + ": " + target + "}}}";
    return switch (h.limitName()) {
      case "max_total_bytes" -> "Raise max_total_bytes from " + h.limit() + " to " + target + " (" + set
          + ") and make sure the shm dir has that much room; or release regions nobody uses (report lists them).";
      case "max_regions" -> "Raise max_regions from " + h.limit() + " to " + target + " (" + set
          + ") and the node's heap with it (about 350 bytes per region: SNAKEPIT_SHM_JAVA_OPTS=-Xmx...), or "
          + "pack small arrays into fewer regions.";
      default -> "Raise " + h.limitName() + " from " + h.limit() + " to " + target + " (" + set + "), or have "
          + h.by() + " release what it no longer needs.";
    };
  }

  private static long roundUp(long v, String limitName) {
    long unit = limitName.equals("max_regions") ? 1000 : MIB;
    return (v + unit - 1) / unit * unit;
  }

  private void fragmentation(ShmConfig c, Map<String, Alert> out, long nowMs) {
    long free = 0;
    long largest = 0;
    for (RegionRegistry.PoolSegmentUse u : registry.poolSegmentUse()) {
      free += u.freeBytes();
      largest = Math.max(largest, u.largestFreeBytes());
    }
    if (free < c.poolSegmentBytes() || free == 0) {
      return;
    }
    double pct = 100.0 * (1.0 - (double) largest / free);
    if (pct >= c.alertFragmentationPercent()) {
      long smaller = Math.max(c.poolSegmentBytes() / 2, 64 * 1024);
      out.put("fragmentation.pool", new Alert("fragmentation.pool", "warning", pct, c.alertFragmentationPercent(),
          String.format("pooled memory is %.1f%% fragmented: %d MiB free, largest free block %d KiB", pct,
              free / MIB, largest / 1024),
          "Lower pool_segment_bytes from " + c.poolSegmentBytes() + " to " + smaller + " so emptied segments go "
              + "back sooner (and pool_idle_release_ms from " + c.poolIdleReleaseMs() + " if it is long), or "
              + "size_classes_per_doubling from " + c.sizeClassesPerDoubling() + " to "
              + Math.max(1, c.sizeClassesPerDoubling() / 2) + " so freed blocks fit more sizes (ALLOCATOR.md).",
          nowMs));
    }
  }

  private void latency(ShmConfig c, Map<String, Alert> out, long nowMs) {
    if (windowStartMs < 0) {
      windowStartMs = nowMs;
    }
    if (nowMs - windowStartMs >= LATENCY_WINDOW_MS) {
      Histogram w = metrics.takeWindow();
      windowStartMs = nowMs;
      latency = null;
      if (w.getTotalCount() >= LATENCY_MIN_CALLS) {
        double p99Us = w.getValueAtPercentile(99) / 1000.0;
        if (p99Us >= c.alertCallP99Us()) {
          latency = new Alert("latency.calls", "warning", p99Us, c.alertCallP99Us(), String.format(
              "p99 of %d calls over the last %d s was %.0f µs", w.getTotalCount(), LATENCY_WINDOW_MS / 1000, p99Us),
              "Look at stats.calls for the slow call; batch small calls (allocate_many/release_many), keep "
                  + "max_mailbox_messages so callers get :busy instead of waiting, give the node a core of its "
                  + "own, and check its log for long GC pauses (SNAKEPIT_SHM_JAVA_OPTS).", nowMs);
        }
      }
    }
    if (latency != null) {
      out.put(latency.name(), latency);
    }
  }
}

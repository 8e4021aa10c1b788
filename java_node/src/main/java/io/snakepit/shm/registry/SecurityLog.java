package io.snakepit.shm.registry;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Counts security events by kind, keeps the most recent ones, and logs each with its
 * context (who, which region, which tenant) at WARN. Logging is rate-limited per kind
 * ({@value #LOG_LINES_PER_WINDOW} lines per {@value #WINDOW_MS} ms, then one line saying how
 * many were not logged), so a flood of bad requests cannot flood the log; the counts are
 * always exact.
 *
 * <p>Thread-safety: none; used on the registry's owner thread only.
 */
public final class SecurityLog {
  private static final Logger LOG = LoggerFactory.getLogger("io.snakepit.shm.security");
  static final int RECENT_EVENTS = 16;
  static final int LOG_LINES_PER_WINDOW = 20;
  static final long WINDOW_MS = 60_000;

  private final EnumMap<SecurityEvent.Kind, Long> counts = new EnumMap<>(SecurityEvent.Kind.class);
  private final EnumMap<SecurityEvent.Kind, long[]> windows = new EnumMap<>(SecurityEvent.Kind.class);
  private final ArrayDeque<SecurityEvent> recent = new ArrayDeque<>(RECENT_EVENTS);
  private long total;

  public SecurityLog() {
    for (SecurityEvent.Kind k : SecurityEvent.Kind.values()) {
      counts.put(k, 0L);
      windows.put(k, new long[] {Long.MIN_VALUE, 0, 0}); // window start, logged, suppressed
    }
  }

  /** Counts, remembers and (within the rate limit) logs one event. */
  public void record(SecurityEvent e) {
    counts.merge(e.kind(), 1L, Long::sum);
    total++;
    if (recent.size() == RECENT_EVENTS) {
      recent.removeFirst();
    }
    recent.addLast(e);
    long[] w = windows.get(e.kind());
    if (e.atMs() - w[0] >= WINDOW_MS) {
      if (w[2] > 0) {
        LOG.warn("security: {} more {} event(s) in the last minute were not logged (stats.security counts them)",
            w[2], e.kind().atom());
      }
      w[0] = e.atMs();
      w[1] = 0;
      w[2] = 0;
    }
    if (w[1] < LOG_LINES_PER_WINDOW) {
      w[1]++;
      LOG.warn("security: {} in {}: {} (who={}, id={}, tenant={})", e.kind().atom(), e.call(), e.detail(),
          e.who(), e.regionId(), e.tenant());
    } else {
      w[2]++;
    }
  }

  /** Events of each kind since start; every kind is present. */
  public Map<SecurityEvent.Kind, Long> counts() {
    return new EnumMap<>(counts);
  }

  public long total() {
    return total;
  }

  /** The most recent events, oldest first (at most {@value #RECENT_EVENTS}). */
  public List<SecurityEvent> recent() {
    return new ArrayList<>(recent);
  }
}

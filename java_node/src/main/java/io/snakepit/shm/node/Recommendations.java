package io.snakepit.shm.node;

import io.snakepit.shm.registry.ErrorCode;
import io.snakepit.shm.registry.Holder;
import io.snakepit.shm.registry.RegionRegistry;
import io.snakepit.shm.registry.SecurityEvent;
import io.snakepit.shm.registry.ShmConfig;
import io.snakepit.shm.registry.ShmException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * What the {@code report} call recommends from usage patterns: many small regions (batch
 * them or pack them), regions held but unused for a long time (release them or give them a
 * ttl), fragmented pooled memory (segment size), limits close to full (what to raise),
 * shed calls ({@code :busy}) and callers that keep being refused (ids passed without
 * tokens, missing tenants). Each is {@code %{id, severity, message, action}}.
 *
 * <p>Walks every region once: O(regions). Thread-safety: none; the owner thread only.
 */
final class Recommendations {
  static final long SMALL_REGION_BYTES = 4096;
  static final int SMALL_REGIONS_MIN = 1000;
  static final long IDLE_MS = 10 * 60 * 1000;
  static final double HEADROOM_WARN = 0.8;
  private static final long MIB = 1 << 20;

  private Recommendations() {}

  static List<Object> of(RegionRegistry registry, Metrics metrics, long nowMs) {
    List<Object> out = new ArrayList<>();
    ShmConfig c = registry.config();
    long[] small = new long[1];
    long[] idle = new long[2];
    Map<Holder, Long> idleByHolder = new HashMap<>();
    registry.forEachRegion(r -> {
      if (r.sizeBytes() < SMALL_REGION_BYTES) {
        small[0]++;
      }
      if (r.refcount() > 0 && nowMs - r.lastAccessMs() >= IDLE_MS) {
        idle[0]++;
        idle[1] += r.sizeBytes();
        for (Holder h : r.holders().keySet()) {
          idleByHolder.merge(h, r.sizeBytes(), Long::sum);
        }
      }
    });
    int regions = registry.regionCount();
    if (regions >= SMALL_REGIONS_MIN && small[0] * 2 >= regions) {
      out.add(item("small_regions", "info", small[0] + " of " + regions + " regions are under "
          + SMALL_REGION_BYTES + " bytes; each costs a call, a 64-byte header and rounding to 64 bytes",
          "Allocate and release them in batches (allocate_many/release_many, one call per batch), or pack "
              + "small arrays into one larger region and pass offsets."));
    }
    if (idle[0] > 0) {
      String holders = top(idleByHolder);
      out.add(item("idle_regions", "warning", idle[0] + " region(s) (" + idle[1] / MIB + " MiB) are held but "
          + "were not acquired for " + IDLE_MS / 60_000 + " minutes or more; largest holders: " + holders,
          "Release them when done, end their sessions (release_session), or allocate with ttl_ms so they "
              + "expire."));
    }
    long free = 0;
    long largest = 0;
    for (RegionRegistry.PoolSegmentUse u : registry.poolSegmentUse()) {
      free += u.freeBytes();
      largest = Math.max(largest, u.largestFreeBytes());
    }
    if (free >= c.poolSegmentBytes() && free > 0 && 1.0 - (double) largest / free >= 0.3) {
      out.add(item("fragmentation", "info", String.format("pooled memory is %.0f%% fragmented (%d MiB free, "
          + "largest free block %d KiB)", 100 * (1.0 - (double) largest / free), free / MIB, largest / 1024),
          "Lower pool_segment_bytes (now " + c.poolSegmentBytes() + ") so emptied segments go back sooner, or "
              + "size_classes_per_doubling (now " + c.sizeClassesPerDoubling() + ") so freed blocks serve more "
              + "sizes."));
    }
    for (RegionRegistry.Headroom h : registry.headroom()) {
      if (h.ratio() >= HEADROOM_WARN) {
        out.add(item("headroom." + h.limitName(), h.ratio() >= 0.9 ? "warning" : "info",
            String.format("%s is %.0f%% used%s", h.limitName(), h.ratio() * 100,
                h.by() == null ? "" : " (largest: " + h.by() + ")"), Alerts.capacityAdvice(h)));
      }
    }
    long busy = metrics.errors(ErrorCode.BUSY);
    if (busy > 0) {
      out.add(item("busy", "warning", busy + " call(s) were shed with :busy (more than max_mailbox_messages "
          + c.maxMailboxMessages() + " waiting)", "Send fewer, larger calls (allocate_many/release_many), "
          + "retry :busy after a short backoff, or raise max_mailbox_messages."));
    }
    Map<SecurityEvent.Kind, Long> sec = registry.security().counts();
    if (sec.get(SecurityEvent.Kind.BAD_TOKEN) > 0) {
      out.add(item("bad_tokens", "warning", sec.get(SecurityEvent.Kind.BAD_TOKEN) + " acquire(s) came without "
          + "the region's token or with a wrong one", "Pass descriptors, not ids, to whoever acquires "
          + "(SnakepitShm.acquire/3 takes the descriptor); see health.security.recent for who."));
    }
    if (sec.get(SecurityEvent.Kind.TENANT_DENIED) > 0) {
      out.add(item("tenant_denied", "warning", sec.get(SecurityEvent.Kind.TENANT_DENIED) + " request(s) named "
          + "another tenant's region, or none", "Pass tenant: with every call on a tenant's regions; see "
          + "health.security.recent for who."));
    }
    return out;
  }

  private static String top(Map<Holder, Long> bytesByHolder) {
    List<Map.Entry<Holder, Long>> entries = new ArrayList<>(bytesByHolder.entrySet());
    entries.sort(Map.Entry.<Holder, Long>comparingByValue().reversed());
    StringBuilder b = new StringBuilder();
    for (int i = 0; i < Math.min(3, entries.size()); i++) {
      if (i > 0) {
        b.append(", ");
      }
      b.append(entries.get(i).getKey()).append(" (").append(entries.get(i).getValue() / 1024).append(" KiB)");
    }
    return b.toString();
  }

  private static Map<String, Object> item(String id, String severity, String message, String action) {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("id", id);
    m.put("severity", new ShmException.Atom(severity));
    m.put("message", message);
    m.put("action", action);
    return m;
  }
}

package io.snakepit.shm.registry;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The run-time configuration: an immutable value. {@link #with(Map)} validates every key
 * of a change before applying any, and returns a new value.
 *
 * <p>Values in change maps are {@link Long}s for numbers and {@link ShmException.Atom}s
 * (or Strings) for atoms; {@code infinity} is accepted where a limit may be unlimited
 * and is represented as {@link Long#MAX_VALUE}.
 *
 * <p>Thread-safety: immutable.
 */
public record ShmConfig(
    long graceMs,
    long maxTotalBytes,
    long maxHolderBytes,
    long maxRegions,
    ZeroOnFree zeroOnFree,
    long poolSegmentBytes,
    long dedicatedThresholdBytes,
    long maxRegionBytes,
    long osPidPollMs,
    long poolIdleReleaseMs,
    int sizeClassesPerDoubling,
    long maxMailboxMessages,
    long integrityCheckMs,
    long maxSessionBytes,
    long maxTenantBytes,
    boolean acquireTokenRequired,
    int historyEvents,
    long alertCapacityPercent,
    long alertFragmentationPercent,
    long alertCallP99Us) {

  public static final long UNLIMITED = Long.MAX_VALUE;
  /** Most live regions one manager can track (the slot bits of a region id). */
  public static final long MAX_REGIONS = 1L << 24;
  /** Most events a region's history keeps. */
  public static final int MAX_HISTORY_EVENTS = 64;
  private static final long MIB = 1024L * 1024;
  /** Space in a pooled segment that is not for blocks: the segment header. */
  private static final long POOL_OVERHEAD_BYTES = 256;

  /** Defaults of CONTRACT section 2; {@code maxTotalBytes} is half the shm dir's size. */
  public static ShmConfig defaults(long shmDirTotalBytes) {
    return new ShmConfig(100, Math.max(shmDirTotalBytes / 2, MIB), UNLIMITED, 1_000_000, ZeroOnFree.SENSITIVE,
        16 * MIB, MIB, 64L * 1024 * MIB, 200, 10_000, 4, 10_000, 1000, UNLIMITED, UNLIMITED, true, 8, 90, 50, 10_000);
  }

  /** The configuration as key → value, values as on the wire (Long, Atom). */
  public Map<String, Object> asMap() {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("grace_ms", graceMs);
    m.put("max_total_bytes", limit(maxTotalBytes));
    m.put("max_holder_bytes", limit(maxHolderBytes));
    m.put("max_regions", limit(maxRegions));
    m.put("zero_on_free", new ShmException.Atom(zeroOnFree.atom()));
    m.put("pool_segment_bytes", poolSegmentBytes);
    m.put("dedicated_threshold_bytes", dedicatedThresholdBytes);
    m.put("max_region_bytes", maxRegionBytes);
    m.put("os_pid_poll_ms", osPidPollMs);
    m.put("pool_idle_release_ms", poolIdleReleaseMs);
    m.put("size_classes_per_doubling", (long) sizeClassesPerDoubling);
    m.put("max_mailbox_messages", maxMailboxMessages);
    m.put("integrity_check_ms", integrityCheckMs);
    m.put("max_session_bytes", limit(maxSessionBytes));
    m.put("max_tenant_bytes", limit(maxTenantBytes));
    m.put("acquire_token", new ShmException.Atom(acquireTokenRequired ? "required" : "optional"));
    m.put("history_events", (long) historyEvents);
    m.put("alert_capacity_percent", alertCapacityPercent);
    m.put("alert_fragmentation_percent", alertFragmentationPercent);
    m.put("alert_call_p99_us", alertCallP99Us);
    return m;
  }

  /** Returns this configuration with {@code changes} applied, or throws invalid_request naming the key. */
  public ShmConfig with(Map<String, Object> changes) {
    long grace = graceMs;
    long total = maxTotalBytes;
    long holder = maxHolderBytes;
    long regions = maxRegions;
    ZeroOnFree zero = zeroOnFree;
    long pool = poolSegmentBytes;
    long threshold = dedicatedThresholdBytes;
    long maxRegion = maxRegionBytes;
    long poll = osPidPollMs;
    long idle = poolIdleReleaseMs;
    int perDoubling = sizeClassesPerDoubling;
    long mailbox = maxMailboxMessages;
    long integrity = integrityCheckMs;
    long session = maxSessionBytes;
    long tenant = maxTenantBytes;
    boolean tokenRequired = acquireTokenRequired;
    int history = historyEvents;
    long alertCapacity = alertCapacityPercent;
    long alertFragmentation = alertFragmentationPercent;
    long alertP99 = alertCallP99Us;
    for (Map.Entry<String, Object> e : changes.entrySet()) {
      String key = e.getKey();
      Object v = e.getValue();
      switch (key) {
        case "grace_ms" -> grace = number(key, v, 0, 24L * 3600 * 1000);
        case "max_total_bytes" -> total = limitValue(key, v, 1);
        case "max_holder_bytes" -> holder = limitValue(key, v, 1);
        case "max_regions" -> regions = Math.min(limitValue(key, v, 1), MAX_REGIONS);
        case "zero_on_free" -> {
          ZeroOnFree z = ZeroOnFree.fromAtom(atomName(v));
          if (z == null) {
            throw bad(key, "must be :sensitive, :always or :never");
          }
          zero = z;
        }
        case "pool_segment_bytes" -> pool = number(key, v, 64 * 1024, 1L << 40);
        case "dedicated_threshold_bytes" -> threshold = number(key, v, 64, 1L << 40);
        case "max_region_bytes" -> maxRegion = number(key, v, 1, 1L << 50);
        case "os_pid_poll_ms" -> poll = number(key, v, 10, 3_600_000);
        case "pool_idle_release_ms" -> idle = number(key, v, 0, 24L * 3600 * 1000);
        case "size_classes_per_doubling" -> {
          long n = number(key, v, 1, 8);
          if (Long.bitCount(n) != 1) {
            throw bad(key, "must be 1, 2, 4 or 8");
          }
          perDoubling = (int) n;
        }
        case "max_mailbox_messages" -> mailbox = number(key, v, 10, 100_000_000);
        case "integrity_check_ms" -> integrity = number(key, v, 10, 24L * 3600 * 1000);
        case "max_session_bytes" -> session = limitValue(key, v, 1);
        case "max_tenant_bytes" -> tenant = limitValue(key, v, 1);
        case "acquire_token" -> {
          String a = atomName(v);
          if (!"required".equals(a) && !"optional".equals(a)) {
            throw bad(key, "must be :required or :optional");
          }
          tokenRequired = a.equals("required");
        }
        case "history_events" -> history = (int) number(key, v, 0, MAX_HISTORY_EVENTS);
        case "alert_capacity_percent" -> alertCapacity = number(key, v, 1, 100);
        case "alert_fragmentation_percent" -> alertFragmentation = number(key, v, 1, 100);
        case "alert_call_p99_us" -> alertP99 = number(key, v, 1, 60_000_000);
        default -> throw ShmException.invalid("unknown configuration key " + key)
            .with("key", key);
      }
    }
    if (threshold + RegionLayoutMath.BLOCK_OVERHEAD_BYTES + POOL_OVERHEAD_BYTES > pool) {
      throw bad("dedicated_threshold_bytes", "must leave room for one block in a pooled segment: at most "
          + (pool - RegionLayoutMath.BLOCK_OVERHEAD_BYTES - POOL_OVERHEAD_BYTES) + " with pool_segment_bytes " + pool);
    }
    return new ShmConfig(grace, total, holder, regions, zero, pool, threshold, maxRegion, poll, idle, perDoubling,
        mailbox, integrity, session, tenant, tokenRequired, history, alertCapacity, alertFragmentation, alertP99);
  }

  private static Object limit(long v) {
    return v == UNLIMITED ? new ShmException.Atom("infinity") : (Object) v;
  }

  private static long limitValue(String key, Object v, long min) {
    if ("infinity".equals(atomName(v))) {
      return UNLIMITED;
    }
    return number(key, v, min, UNLIMITED - 1);
  }

  private static long number(String key, Object v, long min, long max) {
    if (!(v instanceof Long n)) {
      throw bad(key, "must be an integer from " + min + " to " + max);
    }
    if (n < min || n > max) {
      throw bad(key, "must be from " + min + " to " + max + ", got " + n);
    }
    return n;
  }

  private static String atomName(Object v) {
    if (v instanceof ShmException.Atom a) {
      return a.name();
    }
    return v instanceof String s ? s : null;
  }

  private static ShmException bad(String key, String reason) {
    return ShmException.of(ErrorCode.INVALID_REQUEST, "invalid value for " + key + ": " + reason,
        "Fix the value of " + key + "; {:config, :get} shows the current configuration.")
        .with("key", key);
  }
}

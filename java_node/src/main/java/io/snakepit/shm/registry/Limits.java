package io.snakepit.shm.registry;

import java.util.HashMap;
import java.util.Map;

/**
 * Every limit of OPERATIONS.md "Limits", checked in one order on every allocation path
 * (allocate, allocate_many; acquire for the holder limit), and the byte budgets per
 * session and per tenant they need. Over a limit: {@code :limit_exceeded} with the
 * limit's name, value, the current use and the request.
 *
 * <p>Thread-safety: none; owned by the registry's owner thread.
 */
final class Limits {
  private final Map<String, Long> bytesBySession = new HashMap<>();
  private final Map<String, Long> bytesByTenant = new HashMap<>();

  /** One region's size: positive, and at most {@code max_region_bytes}. */
  static void checkRegionSize(ShmConfig c, long size) {
    if (size <= 0) {
      throw ShmException.invalid("size must be a positive integer, got " + size).with("requested", size);
    }
    if (size > c.maxRegionBytes()) {
      throw exceeded("max_region_bytes", c.maxRegionBytes(), 0, size,
          "Split the data over several regions or raise max_region_bytes.");
    }
  }

  /**
   * {@code count} new regions of {@code totalBytes} together, for a holder holding
   * {@code holderBytes}: max_regions, max_total_bytes, max_holder_bytes,
   * max_session_bytes, max_tenant_bytes.
   */
  void checkAllocation(ShmConfig c, int liveRegions, long bytesInUse, long holderBytes, String session,
      String tenant, int count, long totalBytes) {
    if (liveRegions + (long) count > c.maxRegions()) {
      throw exceeded("max_regions", c.maxRegions(), liveRegions, count,
          "Release regions you no longer need, or raise max_regions.");
    }
    if (bytesInUse + totalBytes > c.maxTotalBytes()) {
      throw exceeded("max_total_bytes", c.maxTotalBytes(), bytesInUse, totalBytes,
          "Release regions, or raise max_total_bytes (at most what the shm dir can hold).");
    }
    checkHolder(c, holderBytes, totalBytes);
    if (session != null) {
      long used = bytesBySession.getOrDefault(session, 0L);
      if (used + totalBytes > c.maxSessionBytes()) {
        throw exceeded("max_session_bytes", c.maxSessionBytes(), used, totalBytes,
            "End sessions you no longer need (release_session), release regions of this session, "
                + "or raise max_session_bytes.").with("session", session);
      }
    }
    if (tenant != null) {
      long used = bytesByTenant.getOrDefault(tenant, 0L);
      if (used + totalBytes > c.maxTenantBytes()) {
        throw exceeded("max_tenant_bytes", c.maxTenantBytes(), used, totalBytes,
            "Release regions of this tenant, or raise max_tenant_bytes.").with("tenant", tenant);
      }
    }
  }

  /** A holder holding {@code holderBytes} taking {@code moreBytes} more: max_holder_bytes. */
  static void checkHolder(ShmConfig c, long holderBytes, long moreBytes) {
    if (holderBytes + moreBytes > c.maxHolderBytes()) {
      throw exceeded("max_holder_bytes", c.maxHolderBytes(), holderBytes, moreBytes,
          "Release regions this holder no longer needs, or raise max_holder_bytes.");
    }
  }

  /** Counts a region's bytes in (positive delta) or out of its session's and tenant's budgets. */
  void account(String session, String tenant, long deltaBytes) {
    add(bytesBySession, session, deltaBytes);
    add(bytesByTenant, tenant, deltaBytes);
  }

  private static void add(Map<String, Long> bytes, String key, long delta) {
    if (key != null && bytes.merge(key, delta, Long::sum) == 0) {
      bytes.remove(key);
    }
  }

  Map<String, Long> bytesBySession() {
    return new HashMap<>(bytesBySession);
  }

  Map<String, Long> bytesByTenant() {
    return new HashMap<>(bytesByTenant);
  }

  static ShmException exceeded(String name, long limit, long current, long requested, String remediation) {
    return ShmException.of(ErrorCode.LIMIT_EXCEEDED, name + " exceeded: limit " + limit + ", in use " + current
        + ", requested " + requested, remediation)
        .with("limit_name", new ShmException.Atom(name)).with("limit", limit).with("current", current)
        .with("requested", requested);
  }
}

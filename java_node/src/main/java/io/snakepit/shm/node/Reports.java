package io.snakepit.shm.node;

import com.ericsson.otp.erlang.OtpErlangLong;
import com.ericsson.otp.erlang.OtpErlangObject;
import io.snakepit.shm.platform.PlatformException;
import io.snakepit.shm.platform.SharedMemoryPlatform;
import io.snakepit.shm.registry.Holder;
import io.snakepit.shm.registry.Region;
import io.snakepit.shm.registry.RegionRegistry;
import io.snakepit.shm.registry.SecurityEvent;
import io.snakepit.shm.registry.SecurityLog;
import io.snakepit.shm.registry.ShmException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The maps of {@code info}, {@code stats}, {@code health} and {@code gc}, built from the
 * registry and the metrics (PROTOCOL.md). Values are Java values that {@link Terms}
 * turns into terms.
 *
 * <p>Thread-safety: none; called on the node's owner thread only.
 */
final class Reports {
  private final RegionRegistry registry;
  private final SharedMemoryPlatform platform;
  private final Path shmDir;
  private final String nodeName;
  private final Metrics metrics;
  private final Alerts alerts;
  private final UsageSeries series;
  private final NodeEvents events;
  private final long startedMs = System.currentTimeMillis();
  /** How many holders stats and report list by bytes. */
  static final int TOP_HOLDERS = 20;

  Reports(RegionRegistry registry, SharedMemoryPlatform platform, Path shmDir, String nodeName, Metrics metrics,
      Alerts alerts, UsageSeries series, NodeEvents events) {
    this.registry = registry;
    this.platform = platform;
    this.shmDir = shmDir;
    this.nodeName = nodeName;
    this.metrics = metrics;
    this.alerts = alerts;
    this.series = series;
    this.events = events;
  }

  /** The fields that say where a region's payload is, shared by descriptor and info. */
  private static Map<String, Object> location(Region r) {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("id", r.idText());
    m.put("generation", r.generation());
    m.put("segment", r.segment().shmName());
    m.put("path", r.segment().path().toString());
    m.put("offset", r.payloadOffsetBytes());
    m.put("size", r.sizeBytes());
    return m;
  }

  /** Info with the region's history (the {@code info} call). */
  static Map<String, Object> infoWithHistory(Region r) {
    Map<String, Object> m = info(r);
    List<Object> history = new ArrayList<>();
    for (io.snakepit.shm.registry.RegionHistory.Entry e : r.history()) {
      Map<String, Object> h = new LinkedHashMap<>();
      h.put("event", new ShmException.Atom(e.event().atom()));
      h.put("who", e.who() == null ? null : holderTerm(e.who()));
      h.put("at_ms", e.atMs());
      history.add(h);
    }
    m.put("history", history);
    return m;
  }

  static Map<String, Object> info(Region r) {
    Map<String, Object> m = location(r);
    m.put("state", new ShmException.Atom(r.state().atom()));
    m.put("refcount", (long) r.refcount());
    List<Object> holders = new ArrayList<>();
    for (Map.Entry<Holder, Integer> e : r.holders().entrySet()) {
      Map<String, Object> h = new LinkedHashMap<>();
      h.put("holder", holderTerm(e.getKey()));
      h.put("refs", (long) e.getValue());
      holders.add(h);
    }
    m.put("holders", holders);
    m.put("tenant", r.tenant());
    m.put("session", r.session());
    m.put("label", r.label());
    m.put("access", new ShmException.Atom(r.access().atom()));
    m.put("sensitive", r.sensitive());
    m.put("ttl_ms", r.ttlMs() > 0 ? (Object) r.ttlMs() : null);
    m.put("created_ms", r.createdMs());
    m.put("last_access_ms", r.lastAccessMs());
    m.put("access_count", r.accessCount());
    return m;
  }

  static OtpErlangObject holderTerm(Holder h) {
    if (h instanceof Holder.BeamProcess b) {
      return (OtpErlangObject) b.pid();
    }
    Holder.OsProcess p = (Holder.OsProcess) h;
    return Terms.tuple(Terms.atom("os_pid"), new OtpErlangLong(p.pid()));
  }

  Map<String, Object> stats(long now) {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("regions", (long) registry.regionCount());
    m.put("segments", (long) (registry.pooledSegmentCount() + registry.dedicatedSegmentCount()));
    m.put("pooled_segments", (long) registry.pooledSegmentCount());
    m.put("dedicated_segments", (long) registry.dedicatedSegmentCount());
    m.put("bytes_in_use", registry.bytesInUse());
    m.put("bytes_reserved", registry.bytesReserved());
    m.put("pool", poolStats());
    m.put("fs_page_bytes", registry.fsPageBytes());
    m.put("bytes_by_session", Terms.binaryKeyMap(registry.bytesBySession()));
    m.put("bytes_by_tenant", Terms.binaryKeyMap(registry.bytesByTenant()));
    m.put("invalid_regions", (long) registry.invalidLiveCount());
    m.put("headers_checked", registry.headersChecked());
    m.put("torn_write_repairs", metrics.tornRepairs());
    m.put("hugetlbfs", registry.isHugetlbfs());
    m.put("holders", (long) registry.holderCount());
    m.put("deallocated_total", registry.deallocatedTotal());
    m.put("holder_deaths_total", registry.holderDeathsTotal());
    m.put("calls", metrics.callsAsMap());
    m.put("errors", metrics.errorsAsMap());
    m.put("dropped_messages", metrics.droppedMessages());
    m.put("security", securityCounts());
    m.put("operations", registry.operations().asMap());
    m.put("headroom", headroomList());
    m.put("bytes_by_segment", Terms.binaryKeyMap(registry.bytesBySegment()));
    m.put("top_holders", topHolders());
    m.put("alerts", alertList());
    m.put("subscribers", (long) events.subscriberCount());
    m.put("uptime_ms", now - startedMs);
    return m;
  }

  /**
   * Pooled memory and its fragmentation, overall and per segment. Fragmentation is
   * {@code 1 - largest_free_bytes / free_bytes}: 0 when all free bytes are one block.
   */
  private Map<String, Object> poolStats() {
    long free = 0;
    long largest = 0;
    long capacity = 0;
    List<Object> segments = new ArrayList<>();
    for (RegionRegistry.PoolSegmentUse u : registry.poolSegmentUse()) {
      free += u.freeBytes();
      largest = Math.max(largest, u.largestFreeBytes());
      capacity += u.capacityBytes();
      Map<String, Object> seg = new LinkedHashMap<>();
      seg.put("segment", u.segment());
      seg.put("slot", (long) u.slot());
      seg.put("capacity_bytes", u.capacityBytes());
      seg.put("free_bytes", u.freeBytes());
      seg.put("largest_free_bytes", u.largestFreeBytes());
      seg.put("fragmentation", fragmentation(u.freeBytes(), u.largestFreeBytes()));
      seg.put("live_blocks", (long) u.liveBlocks());
      seg.put("draining", u.draining());
      segments.add(seg);
    }
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("capacity_bytes", capacity);
    m.put("free_bytes", free);
    m.put("largest_free_bytes", largest);
    m.put("fragmentation", fragmentation(free, largest));
    m.put("size_classes", (long) registry.sizeClasses().count());
    m.put("largest_block_bytes", registry.sizeClasses().maxBlockBytes());
    m.put("segments", segments);
    return m;
  }

  private static double fragmentation(long freeBytes, long largestFreeBytes) {
    return freeBytes == 0 ? 0.0 : 1.0 - (double) largestFreeBytes / freeBytes;
  }

  /** {@code %{kind => count}} with every kind, as in {@code stats.security}. */
  private Map<String, Object> securityCounts() {
    Map<String, Object> m = new LinkedHashMap<>();
    for (Map.Entry<SecurityEvent.Kind, Long> e : registry.security().counts().entrySet()) {
      m.put(e.getKey().atom(), e.getValue());
    }
    return m;
  }

  /**
   * The {@code security} section of health: event counts, the most recent events, the
   * shm dir problems now seen, and whether an operator key is set.
   */
  private Map<String, Object> securitySection(String tenant, boolean operator) {
    SecurityLog log = registry.security();
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("events_total", log.total());
    m.put("events", securityCounts());
    List<Object> recent = new ArrayList<>();
    for (SecurityEvent e : log.recent()) {
      if (!operator && !java.util.Objects.equals(e.tenant(), tenant)) {
        continue; // another tenant's events (their region ids) are theirs and operators'
      }
      Map<String, Object> ev = new LinkedHashMap<>();
      ev.put("kind", new ShmException.Atom(e.kind().atom()));
      ev.put("call", new ShmException.Atom(e.call()));
      ev.put("who", e.who());
      ev.put("id", e.regionId());
      ev.put("tenant", e.tenant());
      ev.put("detail", e.detail());
      ev.put("at_ms", e.atMs());
      recent.add(ev);
    }
    m.put("recent", recent);
    m.put("shm_dir_problems", new ArrayList<Object>(registry.shmDirProblems()));
    m.put("operator_key", registry.hasOperatorKey());
    m.put("operator_calls", registry.operatorCalls());
    m.put("acquire_token", new ShmException.Atom(registry.config().acquireTokenRequired() ? "required" : "optional"));
    return m;
  }

  private List<Object> headroomList() {
    List<Object> out = new ArrayList<>();
    for (RegionRegistry.Headroom h : registry.headroom()) {
      Map<String, Object> m = new LinkedHashMap<>();
      m.put("limit", new ShmException.Atom(h.limitName()));
      m.put("value", h.limit() == io.snakepit.shm.registry.ShmConfig.UNLIMITED
          ? new ShmException.Atom("infinity") : (Object) h.limit());
      m.put("used", h.used());
      m.put("ratio", h.ratio());
      m.put("by", h.by());
      out.add(m);
    }
    return out;
  }

  private List<Object> topHolders() {
    List<Object> out = new ArrayList<>();
    for (RegionRegistry.HolderUse u : registry.topHolders(TOP_HOLDERS)) {
      Map<String, Object> m = new LinkedHashMap<>();
      m.put("holder", holderTerm(u.holder()));
      m.put("bytes", u.bytes());
      m.put("regions", (long) u.regions());
      out.add(m);
    }
    return out;
  }

  private List<Object> alertList() {
    List<Object> out = new ArrayList<>();
    for (Alert a : alerts.active()) {
      out.add(a.asMap());
    }
    return out;
  }

  /**
   * The {@code report} call: capacity, usage, headroom, latency, alerts and their recent
   * history, recommendations, and usage over the last hour (PROTOCOL.md). O(regions).
   */
  Map<String, Object> report(long now) {
    Map<String, Object> stats = stats(now);
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("generated_ms", now);
    m.put("node", new ShmException.Atom(nodeName));
    m.put("shm_dir", shmDir.toString());
    m.put("uptime_ms", now - startedMs);
    Map<String, Object> capacity = new LinkedHashMap<>();
    try {
      SharedMemoryPlatform.FsStat fs = platform.statFs(shmDir);
      capacity.put("shm_dir_total_bytes", fs.totalBytes());
      capacity.put("shm_dir_free_bytes", fs.availableBytes());
    } catch (PlatformException e) {
      capacity.put("shm_dir_total_bytes", null);
      capacity.put("shm_dir_free_bytes", null);
    }
    capacity.put("max_total_bytes", registry.config().maxTotalBytes());
    capacity.put("bytes_in_use", registry.bytesInUse());
    capacity.put("bytes_reserved", registry.bytesReserved());
    m.put("capacity", capacity);
    Map<String, Object> usage = new LinkedHashMap<>();
    for (String k : new String[] {"regions", "holders", "segments", "pooled_segments", "dedicated_segments",
        "bytes_by_tenant", "bytes_by_session", "bytes_by_segment", "top_holders"}) {
      usage.put(k, stats.get(k));
    }
    m.put("usage", usage);
    m.put("headroom", stats.get("headroom"));
    m.put("pool", stats.get("pool"));
    m.put("latency", Map.of("calls", stats.get("calls"), "operations", stats.get("operations")));
    m.put("errors", stats.get("errors"));
    m.put("security", stats.get("security"));
    m.put("alerts", stats.get("alerts"));
    List<Object> transitions = new ArrayList<>();
    for (Alerts.Transition t : alerts.recent()) {
      Map<String, Object> e = new LinkedHashMap<>();
      e.put("name", t.alert().name());
      e.put("raised", t.raised());
      e.put("at_ms", t.atMs());
      e.put("message", t.alert().message());
      transitions.add(e);
    }
    m.put("alert_history", transitions);
    m.put("recommendations", Recommendations.of(registry, metrics, now));
    m.put("series", series.asList());
    m.put("config", registry.config().asMap());
    return m;
  }

  /**
   * The health map. {@code security.recent} and {@code invalid_regions} name regions, so a
   * caller sees only those of its own {@code tenant} (null: those without one) unless it
   * is an {@code operator}; counts and checks are node-wide.
   */
  Map<String, Object> health(String tenant, boolean operator) {
    List<Object> checks = new ArrayList<>();
    String status = "ok";
    try {
      SharedMemoryPlatform.FsStat fs = platform.statFs(shmDir);
      long limit = registry.config().maxTotalBytes();
      double used = limit == 0 ? 0 : (double) registry.bytesInUse() / limit;
      checks.add(check("shm_dir", "ok", io.snakepit.shm.platform.PlatformText.capacityDetail(platform.family(),
          shmDir, fs)));
      String capacity = used >= 0.9 ? "degraded" : "ok";
      checks.add(check("capacity", capacity, String.format("%.1f%% of max_total_bytes in use", used * 100)));
      if (capacity.equals("degraded")) {
        status = "degraded";
      }
    } catch (PlatformException e) {
      checks.add(check("shm_dir", "failing", e.getMessage()));
      status = "failing";
    }
    int invalid = registry.invalidLiveCount();
    List<io.snakepit.shm.registry.InvalidRegion> found = registry.invalidRegions();
    checks.add(check("integrity", invalid > 0 ? "degraded" : "ok", invalid > 0
        ? invalid + " live region(s) with a corrupt header, isolated (invalid_regions lists them)"
        : registry.headersChecked() + " region headers checked, none corrupt"));
    if (invalid > 0 && status.equals("ok")) {
      status = "degraded";
    }
    List<String> dirProblems = registry.shmDirProblems();
    checks.add(check("security", dirProblems.isEmpty() ? "ok" : "degraded", dirProblems.isEmpty()
        ? registry.security().total() + " security event(s) since start; shm dir and segment files as made"
        : dirProblems.size() + " shm dir problem(s); first: " + dirProblems.get(0)));
    if (!dirProblems.isEmpty() && status.equals("ok")) {
      status = "degraded";
    }
    List<Alert> raised = alerts.active();
    checks.add(check("alerts", raised.isEmpty() ? "ok" : "degraded", raised.isEmpty() ? "no alert raised"
        : raised.size() + " alert(s) raised; first: " + raised.get(0).message()));
    if (!raised.isEmpty() && status.equals("ok")) {
      status = "degraded";
    }
    List<Object> invalidList = new ArrayList<>();
    for (io.snakepit.shm.registry.InvalidRegion i : found) {
      if (!operator && !java.util.Objects.equals(i.tenant(), tenant)) {
        continue;
      }
      Map<String, Object> e = new LinkedHashMap<>();
      e.put("id", i.id());
      e.put("segment", i.segment());
      e.put("offset", i.offset());
      e.put("reason", i.reason());
      e.put("detected_ms", i.detectedMs());
      invalidList.add(e);
    }
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("status", new ShmException.Atom(status));
    m.put("checks", checks);
    m.put("shm_dir", shmDir.toString());
    m.put("node", new ShmException.Atom(nodeName));
    m.put("regions", (long) registry.regionCount());
    m.put("invalid_regions", invalidList);
    m.put("security", securitySection(tenant, operator));
    m.put("alerts", alertList());
    return m;
  }

  static Map<String, Object> sweepMap(io.snakepit.shm.segment.StaleSweeper.Result r) {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("scanned", (long) r.scanned());
    m.put("reclaimed", (long) r.reclaimed());
    m.put("reclaimed_bytes", r.reclaimedBytes());
    m.put("live_manager_segments", (long) r.live());
    m.put("own_segments", (long) r.own());
    m.put("without_header", (long) r.unreadable());
    m.put("duration_ms", r.durationMs());
    m.put("available", r.listed());
    return m;
  }

  private static Map<String, Object> check(String name, String status, String detail) {
    Map<String, Object> c = new LinkedHashMap<>();
    c.put("name", new ShmException.Atom(name));
    c.put("status", new ShmException.Atom(status));
    c.put("detail", detail);
    return c;
  }

  Map<String, Object> gc(long now) {
    RegionRegistry.GcResult r = registry.gc(now);
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("deallocated", (long) r.deallocated());
    m.put("os_pid_holders_dropped", (long) r.osPidHoldersDropped());
    m.put("segments_released", (long) r.segmentsReleased());
    m.put("swept", (long) r.sweep().reclaimed());
    m.put("sweep", sweepMap(r.sweep()));
    return m;
  }
}

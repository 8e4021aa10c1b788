package io.snakepit.shm.node;

import com.ericsson.otp.erlang.OtpErlangAtom;
import com.ericsson.otp.erlang.OtpErlangLong;
import com.ericsson.otp.erlang.OtpErlangMap;
import com.ericsson.otp.erlang.OtpErlangObject;
import com.ericsson.otp.erlang.OtpErlangPid;
import com.ericsson.otp.erlang.OtpErlangTuple;
import io.snakepit.shm.platform.PlatformException;
import io.snakepit.shm.platform.SharedMemoryPlatform;
import io.snakepit.shm.registry.Access;
import io.snakepit.shm.registry.AllocateRequest;
import io.snakepit.shm.registry.ErrorCode;
import io.snakepit.shm.registry.Holder;
import io.snakepit.shm.registry.ListFilter;
import io.snakepit.shm.registry.Region;
import io.snakepit.shm.registry.RegionRegistry;
import io.snakepit.shm.registry.ShmException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Turns one request term into a reply term: decodes it, calls the registry, encodes the
 * result. Every failure becomes {@code {:error, map}} at one place ({@link #handle}).
 *
 * <p>Thread-safety: none; called on the node's owner thread only.
 */
final class RequestHandler {
  private static final Set<String> ALLOCATE_KEYS =
      Set.of("holder", "session", "tenant", "sensitive", "ttl_ms", "label", "access", "wait_ms");
  /** Longest wait for memory a caller may ask for (its GenServer timeout should be longer). */
  static final long MAX_WAIT_MS = 300_000;

  /**
   * Returned by {@link #handle} instead of a reply when an allocation asked to wait
   * ({@code wait_ms}) and memory is short: the node parks the call and retries it when
   * memory is freed, until {@link #lastWaitMs()} has passed.
   */
  static final OtpErlangObject DEFERRED = new OtpErlangAtom("$deferred");
  private ShmException lastShortage;
  private long lastWaitMs;
  private static final Set<String> ACQUIRE_KEYS = Set.of("holder", "access", "tenant");
  private static final Set<String> RELEASE_KEYS = Set.of("holder", "tenant");
  private static final Set<String> LIST_KEYS = Set.of("session", "tenant", "label", "holder", "limit");

  private final RegionRegistry registry;
  private final SharedMemoryPlatform platform;
  private final Path shmDir;
  private final String nodeName;
  private final Metrics metrics;
  private final long startedMs = System.currentTimeMillis();

  RequestHandler(RegionRegistry registry, SharedMemoryPlatform platform, Path shmDir, String nodeName,
      Metrics metrics) {
    this.registry = registry;
    this.platform = platform;
    this.shmDir = shmDir;
    this.nodeName = nodeName;
    this.metrics = metrics;
  }

  /** The reply to {@code request} from {@code caller}; never throws for bad input. */
  OtpErlangObject handle(OtpErlangObject request, OtpErlangPid caller) {
    String call = callName(request);
    long startNs = System.nanoTime();
    try {
      return dispatch(call, request, caller);
    } catch (ShmException e) {
      metrics.recordError(e.code());
      return Terms.error(e);
    } catch (PlatformException e) {
      metrics.recordError(ErrorCode.PLATFORM_ERROR);
      return Terms.error(ShmException.of(ErrorCode.PLATFORM_ERROR, e.getMessage(), "Check the node's log.")
          .with("errno", (long) e.errno()).with("call", e.call()));
    } catch (RuntimeException | StackOverflowError e) {
      metrics.recordError(ErrorCode.INVALID_REQUEST);
      return Terms.error(ShmException.invalid("request could not be handled: " + e));
    } finally {
      metrics.recordCall(call, System.nanoTime() - startNs);
    }
  }

  /** The {@code :busy} reply to a request shed because {@code queued} messages wait. */
  OtpErlangObject busy(OtpErlangObject request, int queued, long maxQueued) {
    metrics.recordError(ErrorCode.BUSY);
    metrics.recordCall("busy", 0);
    return Terms.error(ShmException.of(ErrorCode.BUSY, "the node is behind: " + queued
        + " messages wait (max_mailbox_messages " + maxQueued + "); " + callName(request) + " was not run",
        "Retry after a short backoff, use allocate_many/release_many to send fewer calls, "
            + "or raise max_mailbox_messages.")
        .with("queued", (long) queued).with("limit", maxQueued));
  }

  private static String callName(OtpErlangObject request) {
    if (request instanceof OtpErlangAtom a) {
      return known(a.atomValue());
    }
    if (request instanceof OtpErlangTuple t && t.arity() > 0 && t.elementAt(0) instanceof OtpErlangAtom a) {
      return known(a.atomValue());
    }
    return "unknown";
  }

  private static String known(String name) {
    return switch (name) {
      case "allocate", "acquire", "release", "free", "info", "list", "release_session", "stats", "health", "gc",
          "config", "ping", "allocate_many", "release_many" -> name;
      default -> "unknown";
    };
  }

  private OtpErlangObject dispatch(String call, OtpErlangObject req, OtpErlangPid caller) {
    long now = System.currentTimeMillis();
    Holder callerHolder = new Holder.BeamProcess(caller);
    if (req instanceof OtpErlangAtom) {
      return switch (call) {
        case "stats" -> Terms.ok(Terms.map(stats(now)));
        case "health" -> Terms.ok(Terms.map(health()));
        case "gc" -> Terms.ok(Terms.map(gc(now)));
        case "ping" -> Terms.ok(Terms.map(Map.of("node", new ShmException.Atom(nodeName),
            "pid", platform.currentPid())));
        default -> throw unknown(req);
      };
    }
    if (!(req instanceof OtpErlangTuple t)) {
      throw unknown(req);
    }
    int arity = t.arity();
    switch (call + "/" + arity) {
      case "allocate/3": {
        long size = Requests.longValue(t.elementAt(1), "size");
        Options o = Options.parse(t.elementAt(2), ALLOCATE_KEYS, "allocate options");
        Holder holder = o.holder(callerHolder, platform::processStartTicks);
        Access access = o.access("access", Access.READ_WRITE);
        long waitMs = waitMs(o);
        Region r;
        try {
          r = registry.allocate(new AllocateRequest(size, holder, o.text("session"), o.text("tenant"),
              o.bool("sensitive", false), o.positiveLong("ttl_ms", 0), o.text("label"), access), now);
        } catch (ShmException e) {
          return deferIfWaiting(e, waitMs);
        }
        return Terms.ok(new DescriptorTerm(r, access));
      }
      case "allocate_many/3": {
        long[] sizes = Requests.longList(t.elementAt(1), "sizes", RegionRegistry.MAX_BATCH);
        Options o = Options.parse(t.elementAt(2), ALLOCATE_KEYS, "allocate_many options");
        Holder holder = o.holder(callerHolder, platform::processStartTicks);
        Access access = o.access("access", Access.READ_WRITE);
        long waitMs = waitMs(o);
        List<Region> made;
        try {
          made = registry.allocateMany(sizes, new AllocateRequest(0, holder, o.text("session"),
              o.text("tenant"), o.bool("sensitive", false), o.positiveLong("ttl_ms", 0), o.text("label"), access),
              now);
        } catch (ShmException e) {
          return deferIfWaiting(e, waitMs);
        }
        OtpErlangObject[] descriptors = new OtpErlangObject[made.size()];
        for (int i = 0; i < descriptors.length; i++) {
          descriptors[i] = new DescriptorTerm(made.get(i), access);
        }
        return Terms.ok(new com.ericsson.otp.erlang.OtpErlangList(descriptors));
      }
      case "release_many/3": {
        long[] ids = Requests.idList(t.elementAt(1), RegionRegistry.MAX_BATCH);
        Options o = Options.parse(t.elementAt(2), RELEASE_KEYS, "release_many options");
        int n = registry.releaseMany(ids, o.holder(callerHolder, platform::processStartTicks), o.text("tenant"), now);
        return Terms.ok(Terms.map(Map.of("released", (long) n)));
      }
      case "acquire/3": {
        long id = Requests.regionId(t.elementAt(1));
        Options o = Options.parse(t.elementAt(2), ACQUIRE_KEYS, "acquire options");
        Holder holder = o.holder(callerHolder, platform::processStartTicks);
        Access access = o.access("access", Access.READ_WRITE);
        Region r = registry.acquire(id, holder, o.text("tenant"), now);
        return Terms.ok(new DescriptorTerm(r, access));
      }
      case "release/3": {
        long id = Requests.regionId(t.elementAt(1));
        Options o = Options.parse(t.elementAt(2), RELEASE_KEYS, "release options");
        registry.release(id, o.holder(callerHolder, platform::processStartTicks), o.text("tenant"), now);
        return Terms.OK;
      }
      case "free/2":
      case "free/3": {
        long id = Requests.regionId(t.elementAt(1));
        Options o = Options.parse(arity == 3 ? t.elementAt(2) : new OtpErlangMap(), RELEASE_KEYS, "free options");
        registry.free(id, o.holder(callerHolder, platform::processStartTicks), o.text("tenant"), now);
        return Terms.OK;
      }
      case "info/2":
        return Terms.ok(Terms.map(info(registry.info(Requests.regionId(t.elementAt(1))))));
      case "list/2": {
        Options o = Options.parse(t.elementAt(1), LIST_KEYS, "list filter");
        ListFilter f = new ListFilter(o.text("session"), o.text("tenant"), o.text("label"),
            o.has("holder") ? o.holder(null, pid -> Math.max(platform.processStartTicks(pid), 0)) : null,
            o.positiveInt("limit", ListFilter.DEFAULT_LIMIT));
        List<Object> infos = new ArrayList<>();
        for (Region r : registry.list(f)) {
          infos.add(info(r));
        }
        return Terms.ok(Terms.term(infos));
      }
      case "release_session/2": {
        String session = Requests.text(t.elementAt(1), "session", Options.MAX_TEXT_BYTES);
        return Terms.ok(Terms.map(Map.of("released", (long) registry.releaseSession(session, now))));
      }
      case "config/2":
        return config(t.elementAt(1));
      default:
        throw unknown(req);
    }
  }

  private static long waitMs(Options o) {
    long w = o.has("wait_ms") ? o.positiveLong("wait_ms", 0) : 0;
    if (w > MAX_WAIT_MS) {
      throw ShmException.invalid("wait_ms is at most " + MAX_WAIT_MS + ", got " + w).with("key", "wait_ms");
    }
    return w;
  }

  /**
   * A shortage of memory (a limit, or a full shm dir) that a caller asked to wait out
   * becomes {@link #DEFERRED}; anything else is thrown on.
   */
  private OtpErlangObject deferIfWaiting(ShmException e, long waitMs) {
    boolean shortage = e.code() == ErrorCode.NO_SPACE || (e.code() == ErrorCode.LIMIT_EXCEEDED
        && !new ShmException.Atom("max_region_bytes").equals(e.extra().get("limit_name")));
    if (waitMs <= 0 || !shortage) {
      throw e;
    }
    lastShortage = e;
    lastWaitMs = waitMs;
    return DEFERRED;
  }

  /** The shortage behind the last {@link #DEFERRED}. */
  ShmException lastShortage() {
    return lastShortage;
  }

  /** The {@code wait_ms} of the last {@link #DEFERRED}. */
  long lastWaitMs() {
    return lastWaitMs;
  }

  /** The reply for a parked call whose wait ran out: its last shortage, and how long it waited. */
  OtpErlangObject waitedOut(ShmException shortage, long waitedMs) {
    metrics.recordError(shortage.code());
    return Terms.error(shortage.with("waited_ms", waitedMs));
  }

  private OtpErlangObject config(OtpErlangObject arg) {
    if (arg instanceof OtpErlangAtom a && a.atomValue().equals("get")) {
      return Terms.ok(Terms.map(registry.config().asMap()));
    }
    if (arg instanceof OtpErlangTuple t && t.arity() == 2 && t.elementAt(0) instanceof OtpErlangAtom a
        && a.atomValue().equals("set") && t.elementAt(1) instanceof OtpErlangMap m) {
      Map<String, Object> changes = new LinkedHashMap<>();
      for (OtpErlangObject k : m.keys()) {
        if (!(k instanceof OtpErlangAtom ka)) {
          throw ShmException.invalid("configuration keys must be atoms, got " + Requests.show(k));
        }
        OtpErlangObject v = m.get(k);
        Object value = v instanceof OtpErlangLong n && n.bitLength() <= 63 ? (Object) n.longValue()
            : v instanceof OtpErlangAtom va ? new ShmException.Atom(va.atomValue()) : v;
        changes.put(ka.atomValue(), value);
      }
      return Terms.ok(Terms.map(registry.configure(changes).asMap()));
    }
    throw ShmException.invalid("config takes :get or {:set, map}, got " + Requests.show(arg));
  }

  private static ShmException unknown(OtpErlangObject req) {
    return ShmException.invalid("unknown request " + Requests.show(req));
  }

  // ---------------------------------------------------------------- encoding

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

  private static Map<String, Object> info(Region r) {
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

  private Map<String, Object> stats(long now) {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("regions", (long) registry.regionCount());
    m.put("segments", (long) (registry.pooledSegmentCount() + registry.dedicatedSegmentCount()));
    m.put("pooled_segments", (long) registry.pooledSegmentCount());
    m.put("dedicated_segments", (long) registry.dedicatedSegmentCount());
    m.put("bytes_in_use", registry.bytesInUse());
    m.put("bytes_reserved", registry.bytesReserved());
    m.put("pool", poolStats());
    m.put("fs_page_bytes", registry.fsPageBytes());
    m.put("bytes_by_session", new LinkedHashMap<String, Object>(registry.bytesBySession()));
    m.put("bytes_by_tenant", new LinkedHashMap<String, Object>(registry.bytesByTenant()));
    m.put("invalid_regions", (long) registry.invalidLiveCount());
    m.put("headers_checked", registry.headersChecked());
    m.put("hugetlbfs", registry.isHugetlbfs());
    m.put("holders", (long) registry.holderCount());
    m.put("deallocated_total", registry.deallocatedTotal());
    m.put("holder_deaths_total", registry.holderDeathsTotal());
    m.put("calls", metrics.callsAsMap());
    m.put("errors", metrics.errorsAsMap());
    m.put("dropped_messages", metrics.droppedMessages());
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

  private Map<String, Object> health() {
    List<Object> checks = new ArrayList<>();
    String status = "ok";
    try {
      SharedMemoryPlatform.FsStat fs = platform.statFs(shmDir);
      long limit = registry.config().maxTotalBytes();
      double used = limit == 0 ? 0 : (double) registry.bytesInUse() / limit;
      checks.add(check("shm_dir", "ok", shmDir + ": " + (fs.availableBytes() >> 20) + " MiB free of "
          + (fs.totalBytes() >> 20) + " MiB"));
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
    List<RegionRegistry.InvalidRegion> found = registry.invalidRegions();
    checks.add(check("integrity", invalid > 0 ? "degraded" : "ok", invalid > 0
        ? invalid + " live region(s) with a corrupt header, isolated; newest: " + found.get(found.size() - 1)
        : registry.headersChecked() + " region headers checked, none corrupt"));
    if (invalid > 0 && status.equals("ok")) {
      status = "degraded";
    }
    List<Object> invalidList = new ArrayList<>();
    for (RegionRegistry.InvalidRegion i : found) {
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
    return m;
  }

  private static Map<String, Object> check(String name, String status, String detail) {
    Map<String, Object> c = new LinkedHashMap<>();
    c.put("name", new ShmException.Atom(name));
    c.put("status", new ShmException.Atom(status));
    c.put("detail", detail);
    return c;
  }

  private Map<String, Object> gc(long now) {
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

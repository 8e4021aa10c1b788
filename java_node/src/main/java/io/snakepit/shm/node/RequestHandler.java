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
  private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(RequestHandler.class);
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
  private long lastPollMs;
  private static final Set<String> ACQUIRE_KEYS = Set.of("holder", "access", "tenant", "token");
  private static final Set<String> INFO_KEYS = Set.of("tenant", "operator_key");
  private static final Set<String> RELEASE_KEYS = Set.of("holder", "tenant");
  private static final Set<String> LIST_KEYS = Set.of("session", "tenant", "label", "holder", "limit",
      "operator_key");
  private static final Set<String> SYNC_KEYS = Set.of("holder", "tenant", "wait_ms");
  /** Largest consistent write or read in one call. */
  static final int MAX_SYNC_BYTES = 64 << 20;
  private static final long DEFAULT_SYNC_TIMEOUT_MS = 5000;
  private static final int READ_ATTEMPTS = 64;
  /** How often a parked write or read tries again, in ms. */
  static final long SYNC_POLL_MS = 1;

  private final RegionRegistry registry;
  private final SharedMemoryPlatform platform;
  private final Path shmDir;
  private final String nodeName;
  private final Metrics metrics;
  private final Reports reports;
  private final NodeEvents events;
  private static final Set<String> REPORT_KEYS = Set.of("operator_key");
  private static final Set<String> SUBSCRIBE_KEYS = Set.of("pid");
  /** Which host this manager serves (docs/SCALE_OUT.md): in {@code :ping} and every descriptor. */
  private HostIdentity host;
  private byte[] hostBytes;

  RequestHandler(RegionRegistry registry, SharedMemoryPlatform platform, Path shmDir, String nodeName,
      Metrics metrics, Alerts alerts, UsageSeries series, NodeEvents events) {
    setHostIdentity(HostIdentity.detect(null));
    this.registry = registry;
    this.platform = platform;
    this.shmDir = shmDir;
    this.nodeName = nodeName;
    this.metrics = metrics;
    this.events = events;
    this.reports = new Reports(registry, platform, shmDir, nodeName, metrics, alerts, series, events);
  }

  /** Sets the host identity that {@code :ping} reports and descriptors carry. */
  void setHostIdentity(HostIdentity identity) {
    this.host = identity;
    this.hostBytes = identity.idBytes();
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
      // not a validation error: a bug or an unforeseen input; answer, and make it visible
      LOG.error("request {} failed unexpectedly", Requests.show(request), e);
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
          "config", "ping", "allocate_many", "release_many", "write", "read", "report", "subscribe",
          "unsubscribe" -> name;
      default -> "unknown";
    };
  }

  private OtpErlangObject dispatch(String call, OtpErlangObject req, OtpErlangPid caller) {
    long now = System.currentTimeMillis();
    Holder callerHolder = new Holder.BeamProcess(caller);
    if (req instanceof OtpErlangAtom) {
      return switch (call) {
        case "stats" -> Terms.ok(Terms.map(reports.stats(now)));
        case "health" -> Terms.ok(Terms.map(reports.health(null, false)));
        case "gc" -> Terms.ok(Terms.map(reports.gc(now)));
        case "report" -> Terms.ok(Terms.map(reports.report(now)));
        case "ping" -> Terms.ok(Terms.map(Map.of("node", new ShmException.Atom(nodeName),
            "pid", platform.currentPid(), "host", host.asMap())));
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
        return Terms.ok(new DescriptorTerm(r, access, hostBytes));
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
          descriptors[i] = new DescriptorTerm(made.get(i), access, hostBytes);
        }
        return Terms.ok(new com.ericsson.otp.erlang.OtpErlangList(descriptors));
      }
      case "release_many/3": {
        long[] ids = Requests.idList(t.elementAt(1), RegionRegistry.MAX_BATCH);
        Options o = Options.parse(t.elementAt(2), RELEASE_KEYS, "release_many options");
        int n = registry.releaseMany(ids, o.holder(callerHolder, this::startTicksOrGone), o.text("tenant"), now);
        return Terms.ok(Terms.map(Map.of("released", (long) n)));
      }
      case "write/5": {
        long id = Requests.regionId(t.elementAt(1));
        long offset = Requests.longValue(t.elementAt(2), "offset");
        byte[] data = Requests.bytes(t.elementAt(3), "data", MAX_SYNC_BYTES);
        Options o = Options.parse(t.elementAt(4), SYNC_KEYS, "write options");
        long timeoutMs = syncTimeoutMs(o);
        RegionRegistry.SyncTarget target = registry.syncTarget(id, o.holder(callerHolder, platform::processStartTicks),
            o.text("tenant"), offset, data.length, true, now);
        if (!target.sync().tryLockWrite()) {
          return deferPolling(ShmException.of(ErrorCode.TIMEOUT, "the write lock of region "
              + target.region().idText() + " stayed taken by another process for " + timeoutMs + " ms",
              "Retry later or with a longer wait_ms; /proc/locks shows who holds it.")
              .with("id", target.region().idText()), timeoutMs);
        }
        try {
          if (target.sync().writeLocked(target.fileOffsetBytes(), data)) {
            metrics.recordTornRepair();
          }
        } finally {
          target.sync().unlockWrite();
        }
        return Terms.OK;
      }
      case "read/5": {
        long id = Requests.regionId(t.elementAt(1));
        long offset = Requests.longValue(t.elementAt(2), "offset");
        long length = Requests.longValue(t.elementAt(3), "length");
        if (length < 0 || length > MAX_SYNC_BYTES) {
          throw ShmException.invalid("length must be from 0 to " + MAX_SYNC_BYTES + ", got " + length)
              .with("key", "length");
        }
        Options o = Options.parse(t.elementAt(4), SYNC_KEYS, "read options");
        long timeoutMs = syncTimeoutMs(o);
        RegionRegistry.SyncTarget target = registry.syncTarget(id, o.holder(callerHolder, platform::processStartTicks),
            o.text("tenant"), offset, length, false, now);
        byte[] dst = new byte[(int) length];
        for (int attempt = 0; attempt < READ_ATTEMPTS; attempt++) {
          switch (target.sync().tryReadConsistent(target.fileOffsetBytes(), dst)) {
            case DONE:
              return Terms.ok(new com.ericsson.otp.erlang.OtpErlangBinary(dst));
            case TORN:
              throw ShmException.of(ErrorCode.INVALID_REGION, "a writer of region " + target.region().idText()
                  + " died during a write; the bytes are incomplete",
                  "Write the region again (a new write repairs it), or release it.")
                  .with("id", target.region().idText());
            default:
              break;
          }
        }
        return deferPolling(ShmException.of(ErrorCode.TIMEOUT, "no consistent read of region "
            + target.region().idText() + " within " + timeoutMs + " ms: writers kept it busy",
            "Retry, or read with a longer wait_ms.").with("id", target.region().idText()), timeoutMs);
      }
      case "acquire/3": {
        long id = Requests.regionId(t.elementAt(1));
        Options o = Options.parse(t.elementAt(2), ACQUIRE_KEYS, "acquire options");
        Holder holder = o.holder(callerHolder, platform::processStartTicks);
        Access access = o.access("access", Access.READ_WRITE);
        Region r = registry.acquire(id, holder, o.text("tenant"), o.text("token"), access, now);
        return Terms.ok(new DescriptorTerm(r, access, hostBytes));
      }
      case "release/3": {
        long id = Requests.regionId(t.elementAt(1));
        Options o = Options.parse(t.elementAt(2), RELEASE_KEYS, "release options");
        registry.release(id, o.holder(callerHolder, this::startTicksOrGone), o.text("tenant"), now);
        return Terms.OK;
      }
      case "free/2":
      case "free/3": {
        long id = Requests.regionId(t.elementAt(1));
        Options o = Options.parse(arity == 3 ? t.elementAt(2) : new OtpErlangMap(), RELEASE_KEYS, "free options");
        registry.free(id, o.holder(callerHolder, this::startTicksOrGone), o.text("tenant"), now);
        return Terms.OK;
      }
      case "info/2":
      case "info/3": {
        long id = Requests.regionId(t.elementAt(1));
        Options o = Options.parse(arity == 3 ? t.elementAt(2) : new OtpErlangMap(), INFO_KEYS, "info options");
        return Terms.ok(Terms.map(Reports.infoWithHistory(registry.info(id, callerHolder, o.text("tenant"),
            o.text("operator_key"), now))));
      }
      case "list/2": {
        Options o = Options.parse(t.elementAt(1), LIST_KEYS, "list filter");
        ListFilter f = new ListFilter(o.text("session"), o.text("tenant"), o.text("label"),
            o.has("holder") ? o.holder(null, pid -> Math.max(platform.processStartTicks(pid), 0)) : null,
            o.positiveInt("limit", ListFilter.DEFAULT_LIMIT));
        List<Object> infos = new ArrayList<>();
        for (Region r : registry.list(f, callerHolder, o.text("operator_key"), now)) {
          infos.add(Reports.info(r));
        }
        return Terms.ok(Terms.term(infos));
      }
      case "release_session/2":
      case "release_session/3": {
        String session = Requests.text(t.elementAt(1), "session", Options.MAX_TEXT_BYTES);
        Options o = Options.parse(arity == 3 ? t.elementAt(2) : new OtpErlangMap(), INFO_KEYS,
            "release_session options");
        RegionRegistry.SessionRelease r = registry.releaseSession(session, callerHolder, o.text("tenant"),
            o.text("operator_key"), now);
        return Terms.ok(Terms.map(Map.of("released", (long) r.released(), "other_tenants", (long) r.otherTenants())));
      }
      case "health/2": {
        Options o = Options.parse(t.elementAt(1), INFO_KEYS, "health options");
        boolean operator = registry.isOperator("health", callerHolder, o.text("tenant"), o.text("operator_key"), now);
        return Terms.ok(Terms.map(reports.health(o.text("tenant"), operator)));
      }
      case "config/2":
        return config(t.elementAt(1));
      case "report/2": {
        Options o = Options.parse(t.elementAt(1), REPORT_KEYS, "report options");
        registry.isOperator("report", callerHolder, null, o.text("operator_key"), now); // a wrong key is refused
        return Terms.ok(Terms.map(reports.report(now)));
      }
      case "subscribe/2":
      case "unsubscribe/2": {
        Options o = Options.parse(t.elementAt(1), SUBSCRIBE_KEYS, call + " options");
        OtpErlangPid pid = caller;
        if (o.has("pid")) {
          if (!(o.raw("pid") instanceof OtpErlangPid p)) {
            throw ShmException.invalid("pid must be a pid, got " + Requests.show(o.raw("pid"))).with("key", "pid");
          }
          pid = p;
        }
        if (call.equals("unsubscribe")) {
          return Terms.ok(Terms.map(Map.of("subscribed", false, "was_subscribed", events.unsubscribe(pid))));
        }
        if (!events.subscribe(pid)) {
          throw ShmException.of(ErrorCode.LIMIT_EXCEEDED, "the node already has " + Subscriptions.MAX_SUBSCRIBERS
              + " subscribers", "Subscribe one process per BEAM node and fan out from there.")
              .with("limit", (long) Subscriptions.MAX_SUBSCRIBERS);
        }
        return Terms.ok(Terms.map(Map.of("subscribed", true, "subscribers", (long) events.subscriberCount())));
      }
      default:
        throw unknown(req);
    }
  }

  /**
   * For calls that act on references a holder already has (release, free): an OS-pid
   * holder that is no longer running is still named (start time 0), so the call answers
   * {@code :forbidden} (it holds nothing any more: its references were dropped when it
   * ended) rather than {@code :invalid_request}.
   */
  private long startTicksOrGone(long pid) {
    return Math.max(platform.processStartTicks(pid), 0);
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
    lastPollMs = 0;
    return DEFERRED;
  }

  private static long syncTimeoutMs(Options o) {
    long t = o.has("wait_ms") ? o.positiveLong("wait_ms", DEFAULT_SYNC_TIMEOUT_MS) : DEFAULT_SYNC_TIMEOUT_MS;
    if (t > MAX_WAIT_MS) {
      throw ShmException.invalid("wait_ms is at most " + MAX_WAIT_MS + ", got " + t).with("key", "wait_ms");
    }
    return t;
  }

  /** Parks a write or read that met a busy region; it is tried again every {@link #SYNC_POLL_MS}. */
  private OtpErlangObject deferPolling(ShmException timeout, long timeoutMs) {
    lastShortage = timeout;
    lastWaitMs = timeoutMs;
    lastPollMs = SYNC_POLL_MS;
    return DEFERRED;
  }

  /** 0 for a call parked until memory is freed, else how often to try it again (ms). */
  long lastPollMs() {
    return lastPollMs;
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
}

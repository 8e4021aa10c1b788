package io.snakepit.shm.registry;

import io.snakepit.shm.platform.PlatformException;
import io.snakepit.shm.platform.SharedMemoryPlatform;
import io.snakepit.shm.segment.RegionHeaderLayout;
import io.snakepit.shm.segment.Segment;
import io.snakepit.shm.segment.SegmentHeaderLayout;
import io.snakepit.shm.segment.SegmentStore;
import io.snakepit.shm.segment.StaleSweeper;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.PriorityQueue;
import java.util.Set;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * All regions, holders, pooled segments and their lifetimes: allocation, references,
 * grace periods, time-to-live, holder death and deallocation.
 *
 * <p>Thread-safety: <b>none, by design</b>. One thread, the node's owner thread, calls
 * every method; counts are plain fields. Times are passed in as {@code nowMs} so the
 * logic is deterministic under test.
 *
 * <p>Errors are thrown as {@link ShmException} with a code and a remediation; a failed
 * call changes nothing (an allocation that fails gives back what it took).
 */
public final class RegionRegistry {
  private static final Logger LOG = LoggerFactory.getLogger(RegionRegistry.class);
  private static final long POOL_CHECK_INTERVAL_MS = 1000;

  private record Deadline(long atMs, Region region) {}

  private final SegmentStore store;
  private final HolderListener listener;
  private ShmConfig config;

  private final RegionTable regions = new RegionTable();
  private final Map<Holder, HolderState> holderStates = new HashMap<>();
  private final Limits limits = new Limits();
  private final PoolAllocator pool;
  private final StaleSweeper sweeper;
  private final GraceQueue graceQueue = new GraceQueue();
  private final PriorityQueue<Deadline> ttlQueue = new PriorityQueue<>(Comparator.comparingLong(Deadline::atMs));
  /** Live regions with a ttl; the ttl queue is purged of dead entries when it grows past twice this. */
  private int liveTtlRegions;

  private long sequence;
  private long bytesInUse;
  private long bytesReserved;
  private int dedicatedSegments;
  private long nextOsPidCheckMs;
  private long nextPoolCheckMs;
  private long deallocatedTotal;
  private static final int INTEGRITY_BUDGET = 2000;
  private final RegionIntegrity integrity = new RegionIntegrity(
      (r, atMs) -> recordEvent(r, RegionEvent.INVALIDATED, null, atMs));
  private final OperationStats operations = new OperationStats();
  private AuditLog audit;
  private long nextIntegrityCheckMs;
  private long holderDeathsTotal;
  private final CapabilityToken tokens = new CapabilityToken();
  private final long[] tokenScratch = new long[2];
  private final SecurityLog security = new SecurityLog();
  private OperatorKey operatorKey = OperatorKey.none();
  private long operatorCalls;
  private StaleSweeper.Result lastSweep;
  /** The first sequence number of this run: ids with a lower one were never issued here. */
  private final long firstSequence;
  private final long ownUid = io.snakepit.shm.segment.ShmDirGuard.ownUid();
  /** Problems the periodic shm dir check reported and still sees (each is reported once). */
  private final Set<String> knownDirProblems = new LinkedHashSet<>();
  /** Where the next shm dir check starts among the region slots. */
  private int dirCheckCursor;

  public RegionRegistry(SegmentStore store, ShmConfig config, HolderListener listener) {
    this.store = store;
    this.config = config;
    this.listener = listener;
    // ids of different runs differ: the sequence starts at a random point of 2^38
    this.sequence = new SecureRandom().nextLong() >>> (64 - 38);
    this.firstSequence = sequence + 1;
    this.pool = new PoolAllocator(store, sizeClasses(config), config.poolSegmentBytes());
    this.sweeper = new StaleSweeper(store.platform(), store.shmDir(), store.owner());
    store.setTimer(operations);
  }

  private static SizeClasses sizeClasses(ShmConfig c) {
    return new SizeClasses(RegionLayoutMath.blockBytes(c.dedicatedThresholdBytes()), c.sizeClassesPerDoubling());
  }

  public ShmConfig config() {
    return config;
  }

  /** Validates and applies a configuration change; returns the new configuration. */
  public ShmConfig configure(Map<String, Object> changes) {
    ShmConfig next = config.with(changes);
    if (!next.equals(config)) {
      LOG.info("configuration changed: {}", changes);
    }
    config = next;
    pool.reconfigure(sizeClasses(next), next.poolSegmentBytes());
    return config;
  }

  /** Sets the key that makes a caller an operator (SECURITY.md); {@link OperatorKey#none()} for none. */
  public void setOperatorKey(OperatorKey key) {
    this.operatorKey = key;
  }

  /** Calls made with the operator key since start (each is logged at INFO). */
  public long operatorCalls() {
    return operatorCalls;
  }

  /** Latency histograms of the registry's operations. */
  public OperationStats operations() {
    return operations;
  }

  /** Sends every region and security event to {@code log} from now on (null: none). */
  public void setAuditLog(AuditLog log) {
    this.audit = log;
  }

  /** The audit log, or null. */
  public AuditLog auditLog() {
    return audit;
  }

  /** Calls {@code action} for every live region, in slot order (for reports; O(regions)). */
  public void forEachRegion(java.util.function.Consumer<Region> action) {
    for (int i = 0; i < regions.slotCount(); i++) {
      Region r = regions.slotAt(i);
      if (r != null) {
        action.accept(r);
      }
    }
  }

  /** True when {@code h} holds at least one region now. */
  public boolean isHolder(Holder h) {
    return holderStates.containsKey(h);
  }

  /** True when the node has an operator key. */
  public boolean hasOperatorKey() {
    return operatorKey.isSet();
  }

  /** Security events so far (SECURITY.md "Security events"). */
  public SecurityLog security() {
    return security;
  }

  // ---------------------------------------------------------------- calls

  /** Allocates a region and gives {@code req.holder()} one reference to it. */
  public Region allocate(AllocateRequest req, long nowMs) {
    long startNs = System.nanoTime();
    Region r = allocateTimed(req, nowMs);
    operations.record("allocate", System.nanoTime() - startNs);
    return r;
  }

  private Region allocateTimed(AllocateRequest req, long nowMs) {
    long size = req.sizeBytes();
    Limits.checkRegionSize(config, size);
    limits.checkAllocation(config, regions.size(), bytesInUse, heldBytes(req.holder()), req.session(), req.tenant(),
        1, size);

    long seq = ++sequence;
    int slot = regions.claim();
    long id = RegionTable.id(seq, slot);
    Region region;
    try {
      region = size <= config.dedicatedThresholdBytes()
          ? placeInPool(id, seq, req, nowMs)
          : placeDedicated(id, seq, req, nowMs);
    } catch (RuntimeException e) {
      regions.unclaim(slot);
      throw e;
    }
    regions.put(region);
    bytesInUse += size;
    limits.account(req.session(), req.tenant(), size);
    bytesReserved += region.blockBytes();
    region.recordAccess(nowMs);
    addRef(region, req.holder(), req.access());
    recordEvent(region, RegionEvent.ALLOCATED, req.holder(), nowMs);
    if (req.ttlMs() > 0) {
      ttlQueue.add(new Deadline(saturatingAdd(nowMs, req.ttlMs()), region));
      liveTtlRegions++;
    }
    return region;
  }

  /** Most elements of one batch call. */
  public static final int MAX_BATCH = 10_000;

  /**
   * Allocates one region per size, all with the options of {@code template}; all or
   * nothing. Limits are checked for the whole batch first; a failure part-way (a full
   * shm dir) deallocates what the batch made. Errors carry the {@code index} of the
   * offending size.
   */
  public List<Region> allocateMany(long[] sizes, AllocateRequest template, long nowMs) {
    if (sizes.length == 0 || sizes.length > MAX_BATCH) {
      throw ShmException.invalid("a batch takes 1 to " + MAX_BATCH + " sizes, got " + sizes.length);
    }
    long total = 0;
    for (int i = 0; i < sizes.length; i++) {
      try {
        Limits.checkRegionSize(config, sizes[i]);
      } catch (ShmException e) {
        throw e.with("index", (long) i);
      }
      total += sizes[i];
    }
    limits.checkAllocation(config, regions.size(), bytesInUse, heldBytes(template.holder()), template.session(),
        template.tenant(), sizes.length, total);
    List<Region> made = new ArrayList<>(sizes.length);
    for (int i = 0; i < sizes.length; i++) {
      try {
        made.add(allocate(new AllocateRequest(sizes[i], template.holder(), template.session(), template.tenant(),
            template.sensitive(), template.ttlMs(), template.label(), template.access()), nowMs));
      } catch (ShmException e) {
        for (Region r : made) {
          deallocate(r, "batch rolled back", nowMs);
        }
        throw e.with("index", (long) i);
      }
    }
    return made;
  }

  /**
   * Drops one of {@code holder}'s references per id (an id may repeat); all or nothing:
   * every id is checked first. Errors carry the {@code index} and {@code id}.
   */
  public int releaseMany(long[] ids, Holder holder, String tenant, long nowMs) {
    if (ids.length == 0 || ids.length > MAX_BATCH) {
      throw ShmException.invalid("a batch takes 1 to " + MAX_BATCH + " ids, got " + ids.length);
    }
    Map<Long, Integer> wanted = new HashMap<>();
    HolderState hs = holderStates.get(holder);
    for (int i = 0; i < ids.length; i++) {
      try {
        Region r = find(ids[i], "release_many", holder, tenant, nowMs);
        checkTenant(r, "release_many", holder, tenant, nowMs);
        int n = wanted.merge(ids[i], 1, Integer::sum);
        RefNode node = hs == null ? null : r.refOf(hs);
        if (node == null || node.count < n) {
          throw notHolder(r, holder, tenant, "release_many", nowMs);
        }
      } catch (ShmException e) {
        throw e.with("index", (long) i).with("id", Region.formatId(ids[i]));
      }
    }
    for (long id : ids) {
      Region r = regions.get(id);
      recordEvent(r, RegionEvent.RELEASED, holder, nowMs);
      dropRefs(r.refOf(hs), 1, nowMs);
    }
    return ids.length;
  }

  /**
   * Adds a reference for {@code holder} to a live region. {@code token} is the region's
   * capability token from its descriptor; it is required unless {@code acquire_token} is
   * {@code :optional}, and a wrong one is always refused.
   */
  public Region acquire(long id, Holder holder, String tenant, String token, long nowMs) {
    return acquire(id, holder, tenant, token, Access.READ_WRITE, nowMs);
  }

  /**
   * {@link #acquire(long, Holder, String, String, long)} with the access the descriptor
   * grants: a holder whose references are all {@code :read_only} may not {@code write}
   * through the node.
   */
  public Region acquire(long id, Holder holder, String tenant, String token, Access access, long nowMs) {
    long startNs = System.nanoTime();
    Region r = acquireTimed(id, holder, tenant, token, access, nowMs);
    operations.record("acquire", System.nanoTime() - startNs);
    return r;
  }

  private Region acquireTimed(long id, Holder holder, String tenant, String token, Access access, long nowMs) {
    Region r = find(id, "acquire", holder, tenant, nowMs);
    checkTenant(r, "acquire", holder, tenant, nowMs);
    checkToken(r, holder, tenant, token, nowMs);
    if (r.state() == Region.State.FREED) {
      securityEvent(SecurityEvent.Kind.FREED_REGION, "acquire", holder, r.idText(), tenant,
          "acquire of a freed region", nowMs);
      throw ShmException.of(ErrorCode.FORBIDDEN, "region " + r.idText() + " was freed; it takes no new acquires",
          "Allocate a new region.").with("id", r.idText());
    }
    integrity.check(r, nowMs);
    HolderState hs = holderStates.get(holder);
    if (hs == null || r.refOf(hs) == null) {
      Limits.checkHolder(config, hs == null ? 0 : hs.bytes, r.sizeBytes());
    }
    r.deallocateAtMs = -1;
    r.recordAccess(nowMs);
    addRef(r, holder, access);
    recordEvent(r, RegionEvent.ACQUIRED, holder, nowMs);
    return r;
  }

  /** Drops one of {@code holder}'s references. */
  public void release(long id, Holder holder, String tenant, long nowMs) {
    long startNs = System.nanoTime();
    Region r = find(id, "release", holder, tenant, nowMs);
    checkTenant(r, "release", holder, tenant, nowMs);
    RefNode node = refOrForbidden(r, holder, tenant, "release", nowMs);
    recordEvent(r, RegionEvent.RELEASED, holder, nowMs);
    dropRefs(node, 1, nowMs);
    operations.record("release", System.nanoTime() - startNs);
  }

  /** Forbids new acquires and drops one of {@code holder}'s references. */
  public void free(long id, Holder holder, String tenant, long nowMs) {
    long startNs = System.nanoTime();
    Region r = find(id, "free", holder, tenant, nowMs);
    checkTenant(r, "free", holder, tenant, nowMs);
    RefNode node = refOrForbidden(r, holder, tenant, "free", nowMs);
    r.markFreed();
    recordEvent(r, RegionEvent.FREED, holder, nowMs);
    dropRefs(node, 1, nowMs);
    operations.record("free", System.nanoTime() - startNs);
  }

  /** Where a consistent write or read goes: the region, its sync protocol, the file offset. */
  public record SyncTarget(Region region, io.snakepit.shm.segment.RegionSync sync, long fileOffsetBytes) {}

  /**
   * Checks a consistent write or read of {@code lengthBytes} at {@code offsetBytes} of the
   * payload by {@code holder} (it must hold the region; a write needs a live region) and
   * returns where it goes (docs/SYNC.md).
   */
  public SyncTarget syncTarget(long id, Holder holder, String tenant, long offsetBytes, long lengthBytes,
      boolean write, long nowMs) {
    String call = write ? "write" : "read";
    Region r = find(id, call, holder, tenant, nowMs);
    checkTenant(r, call, holder, tenant, nowMs);
    RefNode ref = refOrForbidden(r, holder, tenant, call, nowMs);
    if (write && !ref.mayWrite) {
      securityEvent(SecurityEvent.Kind.READ_ONLY_WRITE, call, holder, r.idText(), tenant,
          "write by a holder with read_only access", nowMs);
      throw ShmException.of(ErrorCode.FORBIDDEN, holder + " holds region " + r.idText() + " read_only",
          "Acquire the region with access: :read_write to write it.").with("id", r.idText());
    }
    if (r.state() == Region.State.INVALID) {
      integrity.check(r, nowMs);
    }
    if (offsetBytes < 0 || lengthBytes < 0 || offsetBytes > r.sizeBytes() - lengthBytes) {
      throw ShmException.invalid("range " + offsetBytes + "+" + lengthBytes + " is outside the payload of region "
          + r.idText() + " (" + r.sizeBytes() + " bytes)").with("id", r.idText());
    }
    return new SyncTarget(r, new io.snakepit.shm.segment.RegionSync(r.segment(), r.headerOffsetBytes()),
        r.payloadOffsetBytes() + offsetBytes);
  }

  /**
   * The region with this id, for a caller of {@code tenant} ({@code :forbidden} for a region
   * of another tenant) or an operator ({@code operatorKey} given: it must match).
   */
  public Region info(long id, Holder caller, String tenant, String operatorKey, long nowMs) {
    boolean operator = checkOperator("info", caller, tenant, operatorKey, nowMs);
    Region r = find(id, "info", caller, tenant, nowMs);
    if (!operator) {
      checkTenant(r, "info", caller, tenant, nowMs);
    }
    return r;
  }

  /**
   * Regions matching the filter, oldest first, at most {@code filter.limit()}. A caller
   * that is not an operator sees only the regions of its own tenant ({@code filter.tenant()};
   * without one, only regions without a tenant); an operator sees every tenant's, or the
   * one its filter names.
   */
  public List<Region> list(ListFilter filter, Holder caller, String operatorKey, long nowMs) {
    boolean operator = checkOperator("list", caller, filter.tenant(), operatorKey, nowMs);
    if (!operator) {
      filter = filter.onlyTenant();
    }
    List<Region> out = new ArrayList<>();
    if (filter.holder() != null) {
      HolderState hs = holderStates.get(filter.holder());
      for (RefNode n : hs == null ? List.<RefNode>of() : hs.nodes()) {
        if (filter.matches(n.region)) {
          out.add(n.region);
        }
      }
    } else {
      for (Region r : regions.values()) {
        if (filter.matches(r)) {
          out.add(r);
        }
      }
    }
    out.sort(Comparator.comparingLong(Region::generation));
    return out.size() > filter.limit() ? new ArrayList<>(out.subList(0, filter.limit())) : out;
  }

  /** What {@link #releaseSession} did. */
  public record SessionRelease(int released, int otherTenants) {}

  /**
   * Ends a session: every region of {@code session} that the caller's {@code tenant} may
   * touch (its own, or regions without a tenant; every region for an operator) is marked
   * freed and every reference to it dropped; each is deallocated after the grace period.
   * Regions of the session that belong to another tenant are left alone, counted in
   * {@code otherTenants}, and recorded as one {@code tenant_denied} event.
   */
  public SessionRelease releaseSession(String session, Holder caller, String tenant, String operatorKey,
      long nowMs) {
    boolean operator = checkOperator("release_session", caller, tenant, operatorKey, nowMs);
    List<Region> of = new ArrayList<>();
    int others = 0;
    for (Region r : regions.values()) {
      if (session.equals(r.session())) {
        if (operator || r.tenant() == null || r.tenant().equals(tenant)) {
          of.add(r);
        } else {
          others++;
        }
      }
    }
    if (others > 0) {
      securityEvent(SecurityEvent.Kind.TENANT_DENIED, "release_session", caller, null, tenant,
          others + " region(s) of session " + session + " belong to another tenant; left alone", nowMs);
    }
    for (Region r : of) {
      r.markFreed();
      recordEvent(r, RegionEvent.SESSION_ENDED, null, nowMs);
      dropAllRefsOf(r);
      scheduleIfUnreferenced(r, nowMs);
    }
    return new SessionRelease(of.size(), others);
  }

  /** {@link #releaseSession(String, Holder, String, String, long)} by a caller without a tenant. */
  public int releaseSession(String session, long nowMs) {
    return releaseSession(session, null, null, null, nowMs).released();
  }

  /**
   * True when {@code operatorKey} is the node's key; false when none is given;
   * {@code :forbidden} (and a bad_operator_key event) when a wrong one is.
   */
  public boolean isOperator(String call, Holder caller, String tenant, String operatorKey, long nowMs) {
    return checkOperator(call, caller, tenant, operatorKey, nowMs);
  }

  /** Drops every reference of a holder that died (pid exit, node down, OS process gone). */
  public int dropHolder(Holder holder, long nowMs) {
    HolderState hs = holderStates.get(holder);
    if (hs == null) {
      return 0;
    }
    int dropped = 0;
    List<RefNode> nodes = hs.nodes();
    for (RefNode n : nodes) {
      dropped += n.count;
      recordEvent(n.region, RegionEvent.HOLDER_DOWN, holder, nowMs);
      dropRefs(n, n.count, nowMs);
    }
    holderDeathsTotal++;
    listener.onHolderDown(holder, nodes.size(), dropped);
    LOG.info("holder {} is gone: dropped {} reference(s) on {} region(s)", holder, dropped, nodes.size());
    return dropped;
  }

  // ---------------------------------------------------------------- time

  /**
   * Runs what is due at {@code nowMs}: deallocations after grace, expiries, the OS-pid
   * check and the release of idle empty pooled segments. Returns when it next has work.
   */
  public long tick(long nowMs) {
    while (!graceQueue.isEmpty() && graceQueue.headDeadline() <= nowMs) {
      long at = graceQueue.headDeadline();
      Region r = graceQueue.headRegion();
      graceQueue.pop();
      if (!r.deallocated && r.refcount() == 0 && r.deallocateAtMs == at) {
        deallocate(r, "grace period ended", nowMs);
      }
    }
    while (!ttlQueue.isEmpty() && ttlQueue.peek().atMs() <= nowMs) {
      Region r = ttlQueue.poll().region();
      if (!r.deallocated) {
        expire(r, nowMs);
      }
    }
    if (nowMs >= nextOsPidCheckMs) {
      nextOsPidCheckMs = nowMs + config.osPidPollMs();
      dropDeadOsProcesses(nowMs);
    }
    if (nowMs >= nextPoolCheckMs) {
      nextPoolCheckMs = nowMs + POOL_CHECK_INTERVAL_MS;
      releaseIdlePools(nowMs, false);
      if (audit != null) {
        audit.flush();
      }
    }
    if (nowMs >= nextIntegrityCheckMs) {
      nextIntegrityCheckMs = nowMs + config.integrityCheckMs();
      integrity.scan(regions, INTEGRITY_BUDGET, nowMs);
      checkShmDir(INTEGRITY_BUDGET, nowMs);
    }
    long next = Math.min(Math.min(nextOsPidCheckMs, nextPoolCheckMs), nextIntegrityCheckMs);
    if (!graceQueue.isEmpty()) {
      next = Math.min(next, graceQueue.headDeadline());
    }
    if (!ttlQueue.isEmpty()) {
      next = Math.min(next, ttlQueue.peek().atMs());
    }
    return next;
  }

  /** What {@link #gc} did. */
  public record GcResult(int deallocated, int osPidHoldersDropped, int segmentsReleased,
      StaleSweeper.Result sweep) {}

  /**
   * Deallocates every unreferenced region now (without waiting out the grace period),
   * drops dead OS-pid holders, releases every empty pooled segment and sweeps the shm
   * dir for segments of dead managers.
   */
  public GcResult gc(long nowMs) {
    int holders = dropDeadOsProcesses(nowMs);
    int deallocated = 0;
    for (Region r : regions.values()) {
      if (r.refcount() == 0) {
        deallocate(r, "gc", nowMs);
        deallocated++;
      }
    }
    graceQueue.clear();
    tick(nowMs);
    int released = releaseIdlePools(nowMs, true);
    return new GcResult(deallocated, holders, released, sweepStale(false));
  }

  /** Sweeps the shm dir for segments of dead managers (at start-up, and by gc). */
  public StaleSweeper.Result sweepStale(boolean dryRun) {
    long startNs = System.nanoTime();
    StaleSweeper.Result r = sweeper.sweep(dryRun);
    operations.record("sweep", System.nanoTime() - startNs);
    lastSweep = r;
    listener.onSweep(r);
    return r;
  }

  /** The result of the last sweep, or null before the first. */
  public StaleSweeper.Result lastSweep() {
    return lastSweep;
  }

  /** Deallocates everything and removes every segment; for shutdown. */
  public void shutdown() {
    for (Region r : regions.values()) {
      deallocate(r, "shutdown", System.currentTimeMillis());
    }
    pool.destroyAll();
    if (audit != null) {
      audit.close();
    }
  }

  // ---------------------------------------------------------------- gauges

  public int regionCount() {
    return regions.size();
  }

  public int pooledSegmentCount() {
    return pool.segments().size();
  }

  public int dedicatedSegmentCount() {
    return dedicatedSegments;
  }

  /** Payload bytes of live regions. */
  public long bytesInUse() {
    return bytesInUse;
  }

  /**
   * How close one limit is: {@code used} against {@code limit} ({@link ShmConfig#UNLIMITED}
   * when unset); for per-holder, per-session and per-tenant limits {@code used} is the
   * largest user's and {@code by} names it.
   */
  public record Headroom(String limitName, long limit, long used, String by) {
    /** used / limit, 0 for an unlimited limit. */
    public double ratio() {
      return limit == ShmConfig.UNLIMITED || limit <= 0 ? 0.0 : (double) used / limit;
    }
  }

  /** Headroom to every limit, in the order Limits checks them. */
  public List<Headroom> headroom() {
    List<Headroom> out = new ArrayList<>();
    out.add(new Headroom("max_total_bytes", config.maxTotalBytes(), bytesInUse, null));
    out.add(new Headroom("max_regions", config.maxRegions(), regions.size(), null));
    HolderState top = null;
    for (HolderState hs : holderStates.values()) {
      if (top == null || hs.bytes > top.bytes) {
        top = hs;
      }
    }
    out.add(new Headroom("max_holder_bytes", config.maxHolderBytes(), top == null ? 0 : top.bytes,
        top == null ? null : top.holder.toString()));
    Map.Entry<String, Long> session = largest(limits.bytesBySession());
    out.add(new Headroom("max_session_bytes", config.maxSessionBytes(), session == null ? 0 : session.getValue(),
        session == null ? null : session.getKey()));
    Map.Entry<String, Long> tenant = largest(limits.bytesByTenant());
    out.add(new Headroom("max_tenant_bytes", config.maxTenantBytes(), tenant == null ? 0 : tenant.getValue(),
        tenant == null ? null : tenant.getKey()));
    return out;
  }

  private static Map.Entry<String, Long> largest(Map<String, Long> m) {
    Map.Entry<String, Long> best = null;
    for (Map.Entry<String, Long> e : m.entrySet()) {
      if (best == null || e.getValue() > best.getValue()) {
        best = e;
      }
    }
    return best;
  }

  /** One holder's use: bytes (each region once) and regions held. */
  public record HolderUse(Holder holder, long bytes, int regions) {}

  /** The {@code n} holders holding the most bytes, most first. */
  public List<HolderUse> topHolders(int n) {
    PriorityQueue<HolderState> top = new PriorityQueue<>(Comparator.comparingLong((HolderState h) -> h.bytes));
    for (HolderState hs : holderStates.values()) {
      top.add(hs);
      if (top.size() > n) {
        top.poll();
      }
    }
    List<HolderUse> out = new ArrayList<>();
    for (HolderState hs : top) {
      out.add(new HolderUse(hs.holder, hs.bytes, hs.regionCount));
    }
    out.sort(Comparator.comparingLong(HolderUse::bytes).reversed());
    return out;
  }

  /**
   * Bytes in use per segment name: blocks handed out (headers included) for a pooled
   * segment, the region's payload for a dedicated one.
   */
  public Map<String, Long> bytesBySegment() {
    Map<String, Long> out = new java.util.TreeMap<>();
    for (PoolSegment p : pool.segments()) {
      out.put(p.segment.shmName(), p.capacityBytes() - p.freeBytes());
    }
    if (dedicatedSegments > 0) {
      for (Region r : regions.values()) {
        if (r.poolBlock == null) {
          out.put(r.segment().shmName(), r.sizeBytes());
        }
      }
    }
    return out;
  }

  /** Bytes of blocks (headers and aligned payloads) of live regions. */
  public long bytesReserved() {
    return bytesReserved;
  }

  public int holderCount() {
    return holderStates.size();
  }

  public long deallocatedTotal() {
    return deallocatedTotal;
  }

  public long holderDeathsTotal() {
    return holderDeathsTotal;
  }

  /** Fragmentation of one pooled segment, in bytes. */
  public record PoolSegmentUse(String segment, int slot, long capacityBytes, long freeBytes, long largestFreeBytes,
      int liveBlocks, boolean draining) {}

  /** Every pooled segment's use, lowest slot (most preferred) first. */
  public List<PoolSegmentUse> poolSegmentUse() {
    List<PoolSegmentUse> out = new ArrayList<>();
    for (PoolSegment p : pool.segments()) {
      out.add(new PoolSegmentUse(p.segment.shmName(), p.slot, p.capacityBytes(), p.freeBytes(),
          p.largestFreeBytes(), p.liveBlocks(), p.draining));
    }
    return out;
  }

  /** The shm dir's page size: the huge page size on hugetlbfs. */
  public long fsPageBytes() {
    return store.fsPageBytes();
  }

  /** True when the shm dir is a hugetlbfs mount (segments sized in huge pages). */
  public boolean isHugetlbfs() {
    return store.isHugetlbfs();
  }

  /** The size classes of pooled blocks now in use. */
  public SizeClasses sizeClasses() {
    return pool.classes();
  }

  /** Holders that are OS processes (to report), in no order. */
  public List<Holder> holders() {
    return new ArrayList<>(holderStates.keySet());
  }

  // ---------------------------------------------------------------- placement

  private Region placeInPool(long id, long generation, AllocateRequest req, long nowMs) {
    PoolAllocator.Block block;
    try {
      block = pool.allocate(RegionLayoutMath.blockBytes(req.sizeBytes()), nowMs);
    } catch (PlatformException e) {
      throw platformError(e, req.sizeBytes());
    }
    Region r = newRegion(id, generation, block.pool().segment, block.offsetBytes(), block.blockBytes(), req, nowMs);
    r.poolBlock = block;
    writeHeader(r, nowMs);
    return r;
  }

  private Region placeDedicated(long id, long generation, AllocateRequest req, long nowMs) {
    long fileBytes = RegionLayoutMath.dedicatedSegmentBytes(req.sizeBytes());
    long headerEnd = RegionLayoutMath.dedicatedHeaderOffset() + RegionHeaderLayout.HEADER_BYTES;
    Segment s;
    try {
      s = store.create(SegmentHeaderLayout.KIND_DEDICATED, fileBytes, headerEnd, fileBytes, nowMs);
    } catch (PlatformException e) {
      throw platformError(e, req.sizeBytes());
    }
    dedicatedSegments++;
    Region r = newRegion(id, generation, s, RegionLayoutMath.dedicatedHeaderOffset(),
        RegionLayoutMath.blockBytes(req.sizeBytes()), req, nowMs);
    writeHeader(r, nowMs);
    return r;
  }

  private Region newRegion(long id, long generation, Segment s, long headerOffset, long blockBytes,
      AllocateRequest req, long nowMs) {
    Region r = new Region(id, generation, s, headerOffset, req.sizeBytes(), blockBytes, req.sensitive(), req.tenant(),
        req.session(), req.label(), req.access(), req.ttlMs(), nowMs);
    if (config.historyEvents() > 0) {
      r.history = new RegionHistory(config.historyEvents());
    }
    tokens.next(tokenScratch);
    r.token(tokenScratch[0], tokenScratch[1]);
    return r;
  }

  private static void writeHeader(Region r, long nowMs) {
    r.segment().access(r.headerOffsetBytes(), RegionHeaderLayout.HEADER_BYTES, (m, at, len) ->
        RegionHeaderLayout.writeLive(m, at, r.id(), r.generation(), r.sizeBytes(), r.payloadOffsetBytes(),
            r.sensitive() ? RegionHeaderLayout.FLAG_SENSITIVE : 0, nowMs));
  }

  // ---------------------------------------------------------------- lifetime

  private void addRef(Region r, Holder h, Access access) {
    HolderState hs = holderStates.get(h);
    boolean first = hs == null;
    if (first) {
      hs = new HolderState(h);
      holderStates.put(h, hs);
    }
    RefNode n = first ? null : r.refOf(hs);
    if (n == null) {
      n = new RefNode(r, hs);
      r.linkRef(n);
      hs.link(n);
    }
    n.count++;
    if (access == Access.READ_WRITE) {
      n.mayWrite = true;
    }
    r.refcount++;
    if (first) {
      listener.onFirstHold(h);
    }
  }

  /** The holder's references to {@code r}, or {@code :forbidden} when it has none. */
  private RefNode refOrForbidden(Region r, Holder h, String tenant, String call, long nowMs) {
    HolderState hs = holderStates.get(h);
    RefNode n = hs == null ? null : r.refOf(hs);
    if (n == null) {
      throw notHolder(r, h, tenant, call, nowMs);
    }
    return n;
  }

  /** Drops {@code k} of a node's references; schedules the region when none are left. */
  private void dropRefs(RefNode n, int k, long nowMs) {
    n.count -= k;
    n.region.refcount -= k;
    if (n.count == 0) {
      unlink(n);
    }
    scheduleIfUnreferenced(n.region, nowMs);
  }

  /** Drops every holder's references to {@code r} (ttl, session end, deallocation). */
  private void dropAllRefsOf(Region r) {
    for (RefNode n : r.refNodes()) {
      r.refcount -= n.count;
      n.count = 0;
      unlink(n);
    }
  }

  /** Takes a node out of its region and holder; tells the listener when the holder holds nothing. */
  private void unlink(RefNode n) {
    n.region.unlinkRef(n);
    HolderState hs = n.holder;
    hs.unlink(n);
    if (hs.regionCount == 0) {
      holderStates.remove(hs.holder);
      listener.onLastRelease(hs.holder);
    }
  }

  private void scheduleIfUnreferenced(Region r, long nowMs) {
    if (r.refcount() == 0 && r.deallocateAtMs < 0 && !r.deallocated) {
      r.deallocateAtMs = saturatingAdd(nowMs, config.graceMs());
      graceQueue.add(r.deallocateAtMs, r);
    }
  }

  private void expire(Region r, long nowMs) {
    recordEvent(r, RegionEvent.EXPIRED, null, nowMs);
    dropAllRefsOf(r);
    deallocate(r, "ttl of " + r.ttlMs() + " ms ran out", nowMs);
  }

  /** Marks the header freed, zeroes when required, and gives the memory back. */
  private void deallocate(Region r, String why, long nowMs) {
    if (r.deallocated) {
      return;
    }
    dropAllRefsOf(r);
    r.deallocated = true;
    regions.remove(r.id());
    if (r.ttlMs() > 0) {
      liveTtlRegions--;
      purgeTtlQueue();
    }
    bytesInUse -= r.sizeBytes();
    limits.account(r.session(), r.tenant(), -r.sizeBytes());
    bytesReserved -= r.blockBytes();
    deallocatedTotal++;
    Segment s = r.segment();
    try {
      s.access(r.headerOffsetBytes(), RegionHeaderLayout.HEADER_BYTES,
          (m, at, len) -> RegionHeaderLayout.writeState(m, at, RegionHeaderLayout.STATE_FREED));
      boolean zero = config.zeroOnFree().requiresZeroing(r.sensitive());
      if (r.state() == Region.State.INVALID) {
        integrity.forget(r);
        if (r.poolBlock == null) {
          dedicatedSegments--;
          store.destroy(s);
        }
        // a pooled block of a corrupt region is never handed out again
      } else if (r.poolBlock != null) {
        // Pooled memory is cleared unless :never, so reused blocks never show old bytes.
        pool.free(r.poolBlock, zero || config.zeroOnFree() != ZeroOnFree.NEVER, false, nowMs);
      } else {
        if (zero) {
          store.zero(s, r.payloadOffsetBytes(), r.blockBytes() - RegionLayoutMath.BLOCK_OVERHEAD_BYTES);
        }
        dedicatedSegments--;
        store.destroy(s);
      }
    } catch (PlatformException | IllegalStateException | IndexOutOfBoundsException e) {
      LOG.error("deallocating region {} in {}: {}", r.idText(), s.shmName(), e.toString());
    }
    recordEvent(r, RegionEvent.DEALLOCATED, null, nowMs);
    LOG.debug("deallocated region {} ({} bytes): {}", r.idText(), r.sizeBytes(), why);
  }

  private int dropDeadOsProcesses(long nowMs) {
    int dropped = 0;
    for (Holder h : new ArrayList<>(holderStates.keySet())) {
      if (h instanceof Holder.OsProcess p
          && store.platform().processStartTicks(p.pid()) != p.startTicks()) {
        dropHolder(h, nowMs);
        dropped++;
      }
    }
    return dropped;
  }

  /** Drops queue entries of deallocated regions once they outnumber the live ones, so they are not retained. */
  private void purgeTtlQueue() {
    if (ttlQueue.size() > 64 && ttlQueue.size() > 2 * liveTtlRegions) {
      ttlQueue.removeIf(d -> d.region().deallocated);
    }
  }

  private static long saturatingAdd(long a, long b) {
    long sum = a + b;
    return ((a ^ sum) & (b ^ sum)) < 0 ? Long.MAX_VALUE : sum;
  }

  private int releaseIdlePools(long nowMs, boolean all) {
    return pool.releaseEmpty(nowMs, all ? 0 : config.poolIdleReleaseMs());
  }

  // ---------------------------------------------------------------- integrity

  /** Regions found corrupt since start (the newest 100). */
  public List<InvalidRegion> invalidRegions() {
    return integrity.invalidRegions();
  }

  /** Regions now live whose headers were found corrupt. */
  public int invalidLiveCount() {
    return integrity.invalidLiveCount();
  }

  /** Headers checked by the periodic integrity check since start. */
  public long headersChecked() {
    return integrity.headersChecked();
  }

  // ---------------------------------------------------------------- checks

  /**
   * The live region with this id, or {@code :not_found}; a miss is a security event that
   * says whether the id was issued by this run and since deallocated ({@code freed_id}),
   * whether its slot now holds a newer region ({@code stale_generation}), or whether it was
   * never issued here ({@code unknown_id}: another run's, or made up).
   */
  private Region find(long id, String call, Holder who, String tenant, long nowMs) {
    Region r = regions.get(id);
    if (r != null) {
      return r;
    }
    String idText = Region.formatId(id);
    long seq = id >>> RegionTable.SLOT_BITS;
    SecurityEvent.Kind kind;
    String reason;
    if (seq < firstSequence || seq > sequence) {
      kind = SecurityEvent.Kind.UNKNOWN_ID;
      reason = "unknown";
    } else if (regions.occupantOfSlot(id) != null) {
      kind = SecurityEvent.Kind.STALE_GENERATION;
      reason = "stale_generation";
    } else {
      kind = SecurityEvent.Kind.FREED_ID;
      reason = "freed";
    }
    securityEvent(kind, call, who, idText, tenant, "no region with this id (" + reason + ")", nowMs);
    return throwNotFound(idText, reason);
  }

  private static Region throwNotFound(String idText, String reason) {
    throw ShmException.of(ErrorCode.NOT_FOUND, "no region with id " + idText, switch (reason) {
      case "unknown" -> "This run never made a region with this id (an id of an earlier run, or a mistyped one); "
          + "allocate a new region.";
      case "stale_generation" -> "The region was deallocated and its slot reused; the descriptor is stale. "
          + "Allocate a new region.";
      default -> "It was freed or expired; allocate a new region.";
    }).with("id", idText).with("reason", new ShmException.Atom(reason));
  }

  private void checkTenant(Region r, String call, Holder who, String tenant, long nowMs) {
    if (r.tenant() != null && !r.tenant().equals(tenant)) {
      securityEvent(SecurityEvent.Kind.TENANT_DENIED, call, who, r.idText(), tenant,
          tenant == null ? "no tenant given for a region of a tenant" : "tenant does not match the region's", nowMs);
      throw ShmException.of(ErrorCode.FORBIDDEN, "region " + r.idText() + " belongs to "
          + (tenant == null ? "a tenant, and no tenant was given" : "another tenant"),
          "Pass the region's tenant in the request options.").with("id", r.idText());
    }
  }

  private void checkToken(Region r, Holder who, String tenant, String token, long nowMs) {
    if (token == null && !config.acquireTokenRequired()) {
      return;
    }
    if (token == null || !r.tokenMatches(token)) {
      securityEvent(SecurityEvent.Kind.BAD_TOKEN, "acquire", who, r.idText(), tenant,
          token == null ? "no token given" : "token does not match", nowMs);
      throw ShmException.of(ErrorCode.FORBIDDEN, token == null
          ? "acquire of region " + r.idText() + " needs its token"
          : "the token does not match region " + r.idText(),
          "Pass token: from the region's descriptor (SnakepitShm.acquire/3 takes the descriptor); an id alone "
              + "is not enough.").with("id", r.idText());
    }
  }

  /**
   * True when the caller presents the operator key; false when it presents none;
   * {@code :forbidden} when it presents a wrong one (or the node has none).
   */
  private boolean checkOperator(String call, Holder who, String tenant, String presented, long nowMs) {
    if (presented == null) {
      return false;
    }
    if (operatorKey.matches(presented)) {
      operatorCalls++;
      LOG.info("operator {} by {} (tenant {})", call, who, tenant == null ? "any" : tenant);
      return true;
    }
    securityEvent(SecurityEvent.Kind.BAD_OPERATOR_KEY, call, who, null, tenant, operatorKey.isSet()
        ? "operator key does not match" : "an operator key was given but the node has none", nowMs);
    throw ShmException.of(ErrorCode.FORBIDDEN, operatorKey.isSet() ? "the operator key does not match"
        : "this node has no operator key", operatorKey.isSet()
        ? "Pass the contents of the node's --operator-key-file."
        : "Start the node with --operator-key-file FILE to allow operators.");
  }

  private void securityEvent(SecurityEvent.Kind kind, String call, Holder who, String id, String tenant,
      String detail, long nowMs) {
    SecurityEvent e = new SecurityEvent(kind, call, who == null ? null : who.toString(), id, tenant, detail, nowMs);
    security.record(e);
    listener.onSecurityEvent(e);
    if (audit != null) {
      audit.securityEvent(e);
    }
  }

  /** Adds an event to the region's history and to the audit log. */
  private void recordEvent(Region r, RegionEvent e, Holder who, long nowMs) {
    if (r.history != null) {
      r.history.add(e, who, nowMs);
    }
    if (audit != null) {
      audit.regionEvent(r, e, who, nowMs);
    }
  }

  /**
   * Checks the shm dir and the segment files (at most {@code budget} of them) are still as
   * the node made them; each new problem is a security event (reported again only once it
   * has gone and come back). Returns the problems seen now.
   */
  public List<String> checkShmDir(int budget, long nowMs) {
    List<String> now = new ArrayList<>();
    String dir = io.snakepit.shm.segment.ShmDirGuard.dirProblem(store.shmDir(), store.platform().family());
    if (dir != null) {
      now.add(dir);
    }
    boolean complete = true;
    if (store.platform().features().contains(io.snakepit.shm.platform.PlatformFeature.SEGMENT_DIRECTORY)) {
      // where segments are not files in the shm dir there is nothing to stat
      int checked = 0;
      for (PoolSegment p : pool.segments()) {
        addProblem(now, p.segment);
        checked++;
      }
      // dedicated segments from a rotating cursor, at most `budget` stats per check; a
      // partial pass only adds problems (one is cleared after a full pass no longer sees it)
      int slots = regions.slotCount();
      int visited = 0;
      for (; visited < slots && dedicatedSegments > 0; visited++) {
        if (checked >= budget) {
          complete = false;
          break;
        }
        Region r = regions.slotAt((dirCheckCursor + visited) % slots);
        if (r != null && r.poolBlock == null) {
          addProblem(now, r.segment());
          checked++;
        }
      }
      dirCheckCursor = slots == 0 ? 0 : (dirCheckCursor + visited) % slots;
    }
    for (String p : now) {
      if (knownDirProblems.add(p)) {
        securityEvent(SecurityEvent.Kind.SHM_DIR, "check", null, null, null, p, nowMs);
      }
    }
    if (!complete) {
      return now;
    }
    knownDirProblems.retainAll(now);
    return now;
  }

  private void addProblem(List<String> problems, Segment s) {
    String p = io.snakepit.shm.segment.ShmDirGuard.segmentProblem(s, ownUid);
    if (p != null) {
      problems.add(p);
    }
  }

  /** The shm dir problems the last check saw (empty when all is well). */
  public List<String> shmDirProblems() {
    return new ArrayList<>(knownDirProblems);
  }

  /** Payload bytes in use per session. */
  public Map<String, Long> bytesBySession() {
    return limits.bytesBySession();
  }

  /** Payload bytes in use per tenant. */
  public Map<String, Long> bytesByTenant() {
    return limits.bytesByTenant();
  }

  private long heldBytes(Holder h) {
    HolderState hs = holderStates.get(h);
    return hs == null ? 0 : hs.bytes;
  }

  private ShmException notHolder(Region r, Holder h, String tenant, String call, long nowMs) {
    securityEvent(SecurityEvent.Kind.NOT_HOLDER, call, h, r.idText(), tenant, "caller holds no reference", nowMs);
    return ShmException.of(ErrorCode.FORBIDDEN, h + " holds no reference to region " + r.idText() + " to " + call,
        "Only a current holder may " + call + "; pass holder: in the options to act for another holder.")
        .with("id", r.idText());
  }

  private ShmException platformError(PlatformException e, long requested) {
    if (e.isNoSpace()) {
      io.snakepit.shm.platform.OsFamily family = store.platform().family();
      SharedMemoryPlatform.FsStat fs = null;
      try {
        fs = store.platform().statFs(store.shmDir());
      } catch (PlatformException ignored) {
        // the sizes are a courtesy
      }
      return ShmException.of(ErrorCode.NO_SPACE,
          io.snakepit.shm.platform.PlatformText.noSpaceMessage(family, store.shmDir(), fs, requested),
          io.snakepit.shm.platform.PlatformText.noSpaceRemediation(family, store.shmDir()))
          .with("requested", requested).with("errno", (long) e.errno()).with("call", e.call());
    }
    return ShmException.of(ErrorCode.PLATFORM_ERROR, e.getMessage(), "Check the shm dir and the node's log.")
        .with("errno", (long) e.errno()).with("call", e.call()).with("strerror", e.strerror());
  }
}

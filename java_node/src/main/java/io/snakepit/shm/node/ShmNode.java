package io.snakepit.shm.node;

import com.ericsson.otp.erlang.MailboxDepth;
import com.ericsson.otp.erlang.OtpErlangAtom;
import com.ericsson.otp.erlang.OtpErlangDecodeException;
import com.ericsson.otp.erlang.OtpErlangExit;
import com.ericsson.otp.erlang.OtpErlangObject;
import com.ericsson.otp.erlang.OtpErlangPid;
import com.ericsson.otp.erlang.OtpErlangTuple;
import com.ericsson.otp.erlang.OtpMbox;
import com.ericsson.otp.erlang.OtpMsg;
import com.ericsson.otp.erlang.OtpNode;
import io.snakepit.shm.platform.SharedMemoryPlatform;
import io.snakepit.shm.registry.Holder;
import io.snakepit.shm.registry.HolderListener;
import io.snakepit.shm.registry.RegionRegistry;
import io.snakepit.shm.registry.ShmException;
import io.snakepit.shm.segment.SegmentStore;
import io.snakepit.shm.registry.ShmConfig;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The hidden Erlang node: registers the mailbox {@code snakepit_shm} and serves
 * GenServer calls from one owner thread, which is also the only thread that touches the
 * registry. Link exits of holder pids (including {@code noconnection} when their node
 * goes) arrive on that thread as {@link OtpErlangExit} and drop the holder's references.
 *
 * <p>Lifecycle: {@link #start()} once, then {@link #requestShutdown()} from any thread
 * and {@link #awaitShutdown()}; shutdown deallocates every region (zeroing as
 * configured), removes every segment and closes the node.
 *
 * <p>The node holds a strong reference to its mailbox (JInterface keeps mailboxes only
 * weakly).
 */
public final class ShmNode implements HolderListener, NodeEvents {
  /** The registered mailbox name of CONTRACT section 2. */
  public static final String MAILBOX_NAME = "snakepit_shm";
  private static final Logger LOG = LoggerFactory.getLogger(ShmNode.class);
  private static final long MAX_WAIT_MS = 1000;
  private static final long LINK_IDLE_MS = 5000;
  private static final int MAX_IDLE_LINKS = 10_000;
  /**
   * Stack of the owner thread. JInterface decodes terms recursively on the thread that
   * reads the message, so a deeply nested request needs room; only touched pages cost.
   */
  private static final long OWNER_STACK_BYTES = 512L << 20;

  private final OtpNode node;
  private final OtpMbox mailbox;
  private final OtpMbox wakeMailbox;
  private final RegionRegistry registry;
  private final RequestHandler handler;
  private final Metrics metrics = new Metrics();
  private final Alerts alerts;
  private final UsageSeries series;
  private final Subscriptions subscriptions;
  private final Thread owner;
  private final Deque<OtpErlangPid> deadOnLink = new ArrayDeque<>();
  private final Deque<ParkedCall> parked = new ArrayDeque<>();
  private long freedAtLastRetry;
  private ShmConfig configAtLastRetry;
  /**
   * Pids still linked although they hold nothing, with the time they last held something.
   * Unlinking lazily saves two distribution messages on every allocate/release pair of a
   * caller that comes back soon; {@link #LINK_IDLE_MS} later the link goes.
   */
  private final LinkedHashMap<OtpErlangPid, Long> idleLinks = new LinkedHashMap<>();
  private final CountDownLatch stopped = new CountDownLatch(1);
  private volatile boolean shutdownRequested;

  /**
   * Creates the node (publishing it to epmd) and the registry. The caller checks first
   * that epmd runs and the name is free, for clear errors.
   */
  public ShmNode(String fullNodeName, String cookie, SharedMemoryPlatform platform, SegmentStore store,
      ShmConfig config) throws java.io.IOException {
    this.node = new OtpNode(fullNodeName, cookie);
    this.mailbox = node.createMbox(MAILBOX_NAME);
    if (mailbox == null) {
      node.close();
      throw new java.io.IOException("could not register the mailbox " + MAILBOX_NAME);
    }
    this.wakeMailbox = node.createMbox();
    this.registry = new RegionRegistry(store, config, this);
    this.alerts = new Alerts(registry, metrics, platform, store.shmDir());
    this.series = new UsageSeries(registry, metrics);
    this.subscriptions = new Subscriptions(mailbox);
    this.handler = new RequestHandler(registry, platform, store.shmDir(), node.node(), metrics, alerts, series, this);
    this.owner = new Thread(null, this::serve, "snakepit-shm-owner", OWNER_STACK_BYTES);
  }

  /** Sets the audit log (null for none); call before {@link #start()}. */
  public void setAuditLog(io.snakepit.shm.registry.AuditLog log) {
    registry.setAuditLog(log);
  }

  /**
   * Sets the operator key (SECURITY.md "Operator role"); call before {@link #start()}.
   */
  public void setOperatorKey(io.snakepit.shm.registry.OperatorKey key) {
    registry.setOperatorKey(key);
  }

  /**
   * Sets the host identity that {@code :ping} reports and every descriptor carries
   * (docs/SCALE_OUT.md; default: the derived one); call before {@link #start()}.
   */
  public void setHostIdentity(HostIdentity identity) {
    handler.setHostIdentity(identity);
  }

  /**
   * Sweeps the shm dir for segments of dead managers; call before {@link #start()}, so it
   * runs before the node serves.
   */
  public io.snakepit.shm.segment.StaleSweeper.Result sweepStale() {
    return registry.sweepStale(false);
  }

  /** The full node name, e.g. {@code snakepit_shm@host}. */
  public String nodeName() {
    return node.node();
  }

  public void start() {
    owner.start();
  }

  /** Asks the owner thread to shut down; returns at once. Safe from any thread, repeatable. */
  public void requestShutdown() {
    shutdownRequested = true;
    wakeMailbox.send(mailbox.self(), new OtpErlangAtom("wake"));
  }

  /** Waits until shutdown has finished, at most {@code timeoutMs}; true if it finished. */
  public boolean awaitShutdown(long timeoutMs) throws InterruptedException {
    return stopped.await(timeoutMs, java.util.concurrent.TimeUnit.MILLISECONDS);
  }

  private void serve() {
    try {
      while (!shutdownRequested) {
        long now = System.currentTimeMillis();
        long next = Math.min(registry.tick(now), serveParked(now));
        for (Alerts.Transition tr : alerts.check(now)) {
          broadcastAlert(tr);
        }
        series.sample(now);
        next = Math.min(next, Math.min(alerts.nextCheckMs(), series.nextSampleMs()));
        processDeadOnLink(now);
        unlinkIdle(now);
        long waitMs = Math.max(1, Math.min(next - now, MAX_WAIT_MS));
        OtpMsg msg;
        try {
          msg = mailbox.receiveMsg(waitMs);
        } catch (InterruptedException timedOut) {
          // JInterface's queue signals a timeout with InterruptedException; the loop
          // condition, not the interrupt, decides whether to stop.
          continue;
        } catch (OtpErlangExit exit) {
          metrics.recordHolderExit();
          OtpErlangPid pid = exit.pid();
          LOG.debug("linked pid {} exited: {}", pid, exit.reason());
          if (pid != null) {
            idleLinks.remove(pid);
            subscriptions.remove(pid);
            registry.dropHolder(new Holder.BeamProcess(pid), System.currentTimeMillis());
          }
          continue;
        }
        if (msg != null) {
          handleMessage(msg);
        }
      }
    } catch (RuntimeException | Error e) {
      LOG.error("owner thread failed; shutting down", e);
    } finally {
      shutdownNow();
    }
  }

  private void handleMessage(OtpMsg msg) {
    OtpErlangObject term;
    try {
      term = msg.getMsg();
    } catch (OtpErlangDecodeException | StackOverflowError e) {
      metrics.recordDropped();
      LOG.warn("dropped a message that could not be decoded: {}", e.toString());
      return;
    }
    try {
      dispatch(term);
    } catch (RuntimeException | StackOverflowError e) {
      metrics.recordDropped();
      LOG.warn("dropped a message: {}", e.toString());
    }
  }

  private void dispatch(OtpErlangObject term) {
    if (!(term instanceof OtpErlangTuple t) || t.arity() == 0 || !(t.elementAt(0) instanceof OtpErlangAtom tag)) {
      if (!(term instanceof OtpErlangAtom a && a.atomValue().equals("wake"))) {
        metrics.recordDropped();
        LOG.debug("dropped an unexpected message {}", Requests.show(term));
      }
      return;
    }
    switch (tag.atomValue()) {
      case "$gen_call" -> {
        OtpErlangTuple from = from(t);
        if (from == null) {
          metrics.recordDropped();
          LOG.warn("dropped a call with a malformed from: {}", Requests.show(term));
          return;
        }
        OtpErlangPid caller = (OtpErlangPid) from.elementAt(0);
        int queued = MailboxDepth.of(mailbox);
        long maxQueued = registry.config().maxMailboxMessages();
        OtpErlangObject reply = queued > maxQueued && Backpressure.sheds(t.elementAt(2))
            ? handler.busy(t.elementAt(2), queued, maxQueued)
            : handler.handle(t.elementAt(2), caller);
        if (reply == RequestHandler.DEFERRED) {
          long now = System.currentTimeMillis();
          parked.add(new ParkedCall(caller, from.elementAt(1), t.elementAt(2), now, now + handler.lastWaitMs(),
              handler.lastShortage(), handler.lastPollMs(), now + handler.lastPollMs()));
          return;
        }
        mailbox.send(caller, Terms.tuple(from.elementAt(1), reply));
      }
      case "system" -> {
        OtpErlangTuple from = t.arity() == 3 ? from(t) : null;
        if (from != null) {
          mailbox.send((OtpErlangPid) from.elementAt(0), Terms.tuple(from.elementAt(1), Terms.error(
              ShmException.invalid("system messages are not supported: snakepit_shm is not an OTP process"))));
        } else {
          metrics.recordDropped();
        }
      }
      case "$gen_cast" -> LOG.debug("ignored a cast: {}", Requests.show(term));
      default -> {
        metrics.recordDropped();
        LOG.debug("dropped an unexpected message {}", Requests.show(term));
      }
    }
  }

  /** The {@code {pid, tag}} of a 3-tuple call, or null when malformed. */
  private static OtpErlangTuple from(OtpErlangTuple t) {
    if (t.arity() == 3 && t.elementAt(1) instanceof OtpErlangTuple from && from.arity() == 2
        && from.elementAt(0) instanceof OtpErlangPid) {
      return from;
    }
    return null;
  }

  /** A call waiting for memory ({@code wait_ms}), retried when memory is freed. */
  private record ParkedCall(OtpErlangPid caller, OtpErlangObject tag, OtpErlangObject request, long parkedAtMs,
      long deadlineMs, ShmException shortage, long pollMs, long nextTryMs) {}

  /**
   * Retries parked calls in arrival order when memory was freed (or the configuration
   * changed) since the last try, and answers those whose wait ran out. Returns the
   * earliest deadline still pending, or {@code Long.MAX_VALUE}.
   */
  private long serveParked(long now) {
    if (parked.isEmpty()) {
      return Long.MAX_VALUE;
    }
    long freed = registry.deallocatedTotal();
    boolean retry = freed != freedAtLastRetry || registry.config() != configAtLastRetry;
    freedAtLastRetry = freed;
    configAtLastRetry = registry.config();
    long earliest = Long.MAX_VALUE;
    int n = parked.size();
    for (int i = 0; i < n; i++) {
      ParkedCall p = parked.poll();
      boolean due = p.pollMs() > 0 ? now >= p.nextTryMs() : retry;
      OtpErlangObject reply = due ? handler.handle(p.request(), p.caller()) : RequestHandler.DEFERRED;
      if (reply == RequestHandler.DEFERRED) {
        ShmException shortage = due ? handler.lastShortage() : p.shortage();
        if (now >= p.deadlineMs()) {
          mailbox.send(p.caller(), Terms.tuple(p.tag(), handler.waitedOut(shortage, now - p.parkedAtMs())));
        } else {
          long nextTry = p.pollMs() > 0 ? now + p.pollMs() : Long.MAX_VALUE;
          parked.add(new ParkedCall(p.caller(), p.tag(), p.request(), p.parkedAtMs(), p.deadlineMs(), shortage,
              p.pollMs(), nextTry));
          earliest = Math.min(earliest, Math.min(p.deadlineMs(), nextTry));
        }
      } else {
        mailbox.send(p.caller(), Terms.tuple(p.tag(), reply));
      }
    }
    return earliest;
  }

  private void processDeadOnLink(long now) {
    while (!deadOnLink.isEmpty()) {
      registry.dropHolder(new Holder.BeamProcess(deadOnLink.poll()), now);
    }
  }

  private void unlinkIdle(long now) {
    Iterator<Map.Entry<OtpErlangPid, Long>> it = idleLinks.entrySet().iterator();
    while (it.hasNext()) {
      Map.Entry<OtpErlangPid, Long> e = it.next();
      if (now - e.getValue() < LINK_IDLE_MS && idleLinks.size() <= MAX_IDLE_LINKS) {
        break;
      }
      mailbox.unlink(e.getKey());
      it.remove();
    }
  }

  private void shutdownNow() {
    try {
      for (ParkedCall p : parked) {
        mailbox.send(p.caller(), Terms.tuple(p.tag(), Terms.error(ShmException.of(
            io.snakepit.shm.registry.ErrorCode.NO_SPACE, "the node is shutting down; the wait for memory ended",
            "Allocate from the next node."))));
      }
      LOG.info("shutting down: releasing {} region(s)", registry.regionCount());
      registry.shutdown();
    } catch (RuntimeException e) {
      LOG.error("shutdown cleanup failed", e);
    } finally {
      node.closeMbox(wakeMailbox);
      node.closeMbox(mailbox);
      node.close();
      stopped.countDown();
    }
  }

  // ---------------------------------------------------------------- HolderListener

  @Override
  public void onFirstHold(Holder holder) {
    if (holder instanceof Holder.BeamProcess b) {
      OtpErlangPid pid = (OtpErlangPid) b.pid();
      if (idleLinks.remove(pid) != null) {
        return;
      }
      try {
        mailbox.link(pid);
      } catch (OtpErlangExit e) {
        LOG.info("holder {} could not be linked ({}); its references will be dropped", pid, e.reason());
        deadOnLink.add(pid);
      }
    }
  }

  @Override
  public void onLastRelease(Holder holder) {
    if (holder instanceof Holder.BeamProcess b && !subscriptions.contains((OtpErlangPid) b.pid())) {
      idleLinks.put((OtpErlangPid) b.pid(), System.currentTimeMillis());
    }
  }

  @Override
  public void onHolderDown(Holder holder, int regions, int references) {
    subscriptions.broadcast(new String[] {"holder", "down"}, Map.of("regions", (long) regions, "references",
        (long) references), Map.of("holder", Reports.holderTerm(holder)));
  }

  @Override
  public void onSecurityEvent(io.snakepit.shm.registry.SecurityEvent e) {
    Map<String, Object> meta = new LinkedHashMap<>();
    meta.put("kind", new ShmException.Atom(e.kind().atom()));
    meta.put("call", e.call());
    meta.put("who", e.who());
    meta.put("id", e.regionId());
    meta.put("tenant", e.tenant());
    meta.put("detail", e.detail());
    subscriptions.broadcast(new String[] {"security", "event"}, Map.of("count", 1L), meta);
  }

  @Override
  public void onSweep(io.snakepit.shm.segment.StaleSweeper.Result r) {
    subscriptions.broadcast(new String[] {"sweep", "stop"}, Reports.sweepMap(r), Map.of("node",
        new ShmException.Atom(node.node())));
  }

  private void broadcastAlert(Alerts.Transition tr) {
    Alert a = tr.alert();
    Map<String, Object> meta = new LinkedHashMap<>();
    meta.put("name", a.name());
    meta.put("severity", new ShmException.Atom(a.severity()));
    meta.put("message", a.message());
    meta.put("recommendation", a.recommendation());
    subscriptions.broadcast(new String[] {"alert", tr.raised() ? "raised" : "cleared"},
        Map.of("value", a.value(), "threshold", a.threshold()), meta);
  }

  // ---------------------------------------------------------------- NodeEvents

  @Override
  public boolean subscribe(OtpErlangPid pid) {
    if (!subscriptions.add(pid)) {
      return false;
    }
    if (idleLinks.remove(pid) == null && !registry.isHolder(new Holder.BeamProcess(pid))) {
      try {
        mailbox.link(pid);
      } catch (OtpErlangExit e) {
        subscriptions.remove(pid);
        return true; // it is gone already: nothing to send to
      }
    }
    return true;
  }

  @Override
  public boolean unsubscribe(OtpErlangPid pid) {
    if (!subscriptions.remove(pid)) {
      return false;
    }
    if (!registry.isHolder(new Holder.BeamProcess(pid))) {
      mailbox.unlink(pid);
    }
    return true;
  }

  @Override
  public int subscriberCount() {
    return subscriptions.size();
  }
}

package io.snakepit.shm.cli;

import com.ericsson.otp.erlang.OtpEpmd;
import com.ericsson.otp.erlang.OtpPeer;
import io.snakepit.shm.node.HostIdentity;
import io.snakepit.shm.node.ShmNode;
import io.snakepit.shm.platform.OsFamily;
import io.snakepit.shm.platform.PlatformException;
import io.snakepit.shm.platform.PlatformFeature;
import io.snakepit.shm.platform.PlatformText;
import io.snakepit.shm.platform.Platforms;
import io.snakepit.shm.platform.SharedMemoryPlatform;
import io.snakepit.shm.registry.AuditLog;
import io.snakepit.shm.registry.OperatorKey;
import io.snakepit.shm.registry.ShmConfig;
import io.snakepit.shm.registry.ShmException;
import io.snakepit.shm.segment.ManagerInstance;
import io.snakepit.shm.segment.PrivatePaths;
import io.snakepit.shm.segment.SegmentStore;
import io.snakepit.shm.segment.ShmDirGuard;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.LinkOption;
import java.security.SecureRandom;
import java.util.List;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import sun.misc.Signal;

/**
 * {@code snakepit-shm node}: checks the environment (cookie, shm dir, epmd, name), starts
 * the {@link ShmNode}, prints {@code ready <node>} and serves until SIGTERM, SIGINT or
 * (with {@code --exit-on-stdin-eof}) the end of stdin. Returns the exit status.
 */
public final class NodeCommand {
  private static final Logger LOG = LoggerFactory.getLogger(NodeCommand.class);
  private static final int EPMD_PORT = 4369;
  private static final long SHUTDOWN_WAIT_MS = 30_000;

  private NodeCommand() {}

  /**
   * Runs {@code snakepit-shm node} with the arguments after {@code node}. The platform is
   * selected first: on an unsupported OS or CPU its one-line error comes before any other
   * check (arguments, cookie, shm dir, epmd).
   */
  public static int run(List<String> args) throws UsageException, InterruptedException {
    return run(args, Platforms::currentFamily);
  }

  /** {@link #run(List)} with the OS family chosen by {@code os} (tests inject one). */
  static int run(List<String> args, Supplier<OsFamily> os) throws UsageException, InterruptedException {
    OsFamily family = os.get();
    NodeOptions o = NodeOptions.parse(args, family);
    if (o.help()) {
      System.out.print(NodeOptions.USAGE);
      return 0;
    }
    return run(o, Platforms.forFamily(family));
  }

  private static int run(NodeOptions o, SharedMemoryPlatform platform) throws UsageException, InterruptedException {
    String cookie = cookie(o);
    String fullName = o.name().contains("@") ? o.name() : o.name() + "@" + shortHostName();
    prepareShmDir(o, platform.family());
    OperatorKey operatorKey = operatorKey(o.operatorKeyFile());
    HostIdentity host = hostIdentity(o.hostId());
    checkEpmd();
    checkNameFree(fullName);

    long pid = platform.currentPid();
    ManagerInstance instance = new ManagerInstance(fullName, pid, platform.processStartTicks(pid),
        new SecureRandom().nextLong(), platform.bootId());
    ShmConfig config;
    try {
      config = ConfigSources.resolve(platform.statFs(o.shmDir()).totalBytes(), o.configFile(), System.getenv(),
          o.sets());
    } catch (PlatformException e) {
      throw new UsageException(UsageException.ENVIRONMENT, PlatformText.dirNoun(platform.family()) + " "
          + o.shmDir() + ": " + e.getMessage());
    }
    AuditLog audit = auditLog(o.auditLog() != null ? o.auditLog()
        : System.getenv("SNAKEPIT_SHM_AUDIT_LOG") == null || System.getenv("SNAKEPIT_SHM_AUDIT_LOG").isBlank() ? null
        : Path.of(System.getenv("SNAKEPIT_SHM_AUDIT_LOG")));

    ShmNode node;
    try {
      node = new ShmNode(fullName, cookie, platform, new SegmentStore(platform, o.shmDir(), instance), config);
    } catch (IOException e) {
      throw new UsageException(UsageException.ENVIRONMENT, "cannot start node " + fullName + ": " + e.getMessage());
    }
    node.setOperatorKey(operatorKey);
    node.setAuditLog(audit);
    node.setHostIdentity(host);
    for (String signal : new String[] {"TERM", "INT"}) {
      try {
        Signal.handle(new Signal(signal), s -> node.requestShutdown());
      } catch (IllegalArgumentException e) {
        // a JVM that keeps the signal for itself: the shutdown hook below still stops the node
        LOG.debug("no handler for SIG{}: {}", signal, e.getMessage());
      }
    }
    Runtime.getRuntime().addShutdownHook(new Thread(() -> {
      node.requestShutdown();
      try {
        node.awaitShutdown(SHUTDOWN_WAIT_MS);
      } catch (InterruptedException ignored) {
        Thread.currentThread().interrupt();
      }
    }, "snakepit-shm-shutdown"));
    try {
      node.sweepStale();
    } catch (RuntimeException e) {
      LOG.warn("stale sweep at start failed: {}", e.getMessage());
    }
    node.start();
    if (o.exitOnStdinEof()) {
      watchStdin(node);
    }
    LOG.info("serving as {} ({} {}, pid {}, host id {} ({}))", fullName, PlatformText.dirNoun(platform.family()),
        o.shmDir(), pid, host.id(), host.source());
    System.out.println("ready " + fullName);
    System.out.flush();
    while (!node.awaitShutdown(Long.MAX_VALUE)) {
      // wait for the owner thread to finish its cleanup
    }
    LOG.info("stopped");
    return 0;
  }

  /** The host identity from --host-id, else SNAKEPIT_SHM_HOST_ID, else derived (docs/SCALE_OUT.md). */
  private static HostIdentity hostIdentity(String flag) throws UsageException {
    try {
      return HostIdentity.fromSources(flag, System.getenv());
    } catch (IllegalArgumentException e) {
      throw new UsageException(UsageException.BAD_ARGUMENTS, (flag != null ? "--host-id" : HostIdentity.ENV)
          + ": " + e.getMessage());
    }
  }

  private static String cookie(NodeOptions o) throws UsageException {
    if (o.cookie() != null) {
      if (o.cookie().isEmpty()) {
        throw new UsageException(UsageException.BAD_ARGUMENTS, "--cookie must not be empty");
      }
      return o.cookie();
    }
    Path file = o.cookieFile() != null ? o.cookieFile() : Path.of(System.getProperty("user.home"), ".erlang.cookie");
    String source = o.cookieFile() != null ? "--cookie-file " + file : "the default cookie file " + file;
    try {
      String c = Files.readString(file, StandardCharsets.UTF_8).strip();
      if (c.isEmpty()) {
        throw new UsageException(UsageException.ENVIRONMENT, source + " is empty");
      }
      return c;
    } catch (IOException e) {
      throw new UsageException(UsageException.ENVIRONMENT, "cannot read " + source + " (" + e.getClass().getSimpleName()
          + "); pass --cookie or --cookie-file");
    }
  }

  private static AuditLog auditLog(Path file) throws UsageException {
    if (file == null) {
      return null;
    }
    try {
      AuditLog log = AuditLog.open(file);
      LOG.info("audit log: {}", file);
      return log;
    } catch (IOException | UnsupportedOperationException e) {
      throw new UsageException(UsageException.ENVIRONMENT, "cannot open the audit log " + file + ": " + e);
    }
  }

  /**
   * Makes sure the shm dir can be used on {@code family}. On macOS and Windows, where it is
   * the node's private state directory, the default one is created (owner-only) when
   * missing; a directory given with --shm-dir never is. Then {@link ShmDirGuard#dirProblem}
   * and writability are checked.
   */
  static void prepareShmDir(NodeOptions o, OsFamily family) throws UsageException {
    Path dir = o.shmDir();
    if (o.shmDirIsDefault() && !family.features().contains(PlatformFeature.SEGMENT_DIRECTORY)) {
      try {
        if (PrivatePaths.createDirectoryIfMissing(dir)) {
          LOG.info("created the private state dir {}", dir);
        }
      } catch (IOException | UnsupportedOperationException e) {
        throw new UsageException(UsageException.ENVIRONMENT, "cannot create the state dir " + dir + " (" + e
            + "); pass --shm-dir with a private directory of yours");
      }
    }
    String problem = ShmDirGuard.dirProblem(dir, family);
    if (problem != null) {
      throw new UsageException(UsageException.ENVIRONMENT, problem);
    }
    if (!Files.isWritable(dir)) {
      throw new UsageException(UsageException.ENVIRONMENT, PlatformText.dirNoun(family) + " " + dir
          + " is not writable by this user");
    }
  }

  /**
   * The operator key from {@code file}: a regular file of this user that no one else may
   * read or write (like an ssh key), holding at least {@link OperatorKey#MIN_CHARS}
   * characters. No file: no operators.
   */
  static OperatorKey operatorKey(Path file) throws UsageException {
    if (file == null) {
      return OperatorKey.none();
    }
    String what = "--operator-key-file " + file;
    try {
      if (!Files.exists(file, LinkOption.NOFOLLOW_LINKS)) {
        throw new UsageException(UsageException.ENVIRONMENT, what + " does not exist");
      }
      if (!Files.isRegularFile(file, LinkOption.NOFOLLOW_LINKS)) {
        throw new UsageException(UsageException.ENVIRONMENT, what + " is not a regular file (symbolic links are "
            + "refused)");
      }
      if (!file.getFileSystem().supportedFileAttributeViews().contains("unix")) {
        throw new UsageException(UsageException.ENVIRONMENT, what + ": operator key files need POSIX permissions to"
            + " check that only you can read them, which this system does not have (Windows: not supported yet,"
            + " docs/PLATFORMS.md)");
      }
      int mode = (Integer) Files.getAttribute(file, "unix:mode", LinkOption.NOFOLLOW_LINKS);
      long uid = ((Integer) Files.getAttribute(file, "unix:uid", LinkOption.NOFOLLOW_LINKS)) & 0xFFFFFFFFL;
      if ((mode & 077) != 0) {
        throw new UsageException(UsageException.ENVIRONMENT, what + " has mode " + Integer.toOctalString(mode & 0777)
            + ": others may read it; run chmod 600 " + file);
      }
      if (uid != ShmDirGuard.ownUid()) {
        throw new UsageException(UsageException.ENVIRONMENT, what + " belongs to uid " + uid
            + ", not to the user running the node");
      }
      String key = Files.readString(file, StandardCharsets.UTF_8).strip();
      if (key.length() < OperatorKey.MIN_CHARS) {
        throw new UsageException(UsageException.ENVIRONMENT, what + " holds " + key.length()
            + " characters; an operator key needs at least " + OperatorKey.MIN_CHARS
            + " (e.g. head -c 24 /dev/urandom | base64 > FILE)");
      }
      return OperatorKey.of(key);
    } catch (IOException | UnsupportedOperationException e) {
      throw new UsageException(UsageException.ENVIRONMENT, "cannot read " + what + " (" + e.getClass().getSimpleName()
          + ")");
    }
  }

  private static void checkEpmd() throws UsageException {
    try (Socket s = new Socket()) {
      s.connect(new InetSocketAddress("127.0.0.1", EPMD_PORT), 2000);
    } catch (IOException e) {
      throw new UsageException(UsageException.ENVIRONMENT, "epmd is not reachable on port " + EPMD_PORT
          + " (" + e.getMessage() + "); start it with 'epmd -daemon'");
    }
  }

  private static void checkNameFree(String fullName) throws UsageException {
    try {
      if (OtpEpmd.lookupPort(new OtpPeer(fullName)) > 0) {
        throw new UsageException(UsageException.ENVIRONMENT, "node name " + fullName
            + " is already registered with epmd (is another node running?); choose another --name");
      }
    } catch (IOException e) {
      throw new UsageException(UsageException.ENVIRONMENT, "epmd lookup of " + fullName + " failed: " + e.getMessage());
    }
  }

  /** The host part Erlang's short names use: the kernel host name up to the first dot. */
  static String shortHostName() {
    String host;
    try {
      host = Files.readString(Path.of("/proc/sys/kernel/hostname")).strip();
    } catch (IOException e) {
      try {
        host = java.net.InetAddress.getLocalHost().getHostName();
      } catch (IOException e2) {
        host = "localhost";
      }
    }
    int dot = host.indexOf('.');
    return dot > 0 ? host.substring(0, dot) : host;
  }

  private static void watchStdin(ShmNode node) {
    Thread t = new Thread(() -> {
      byte[] buf = new byte[256];
      try (InputStream in = System.in) {
        while (in.read(buf) >= 0) {
          // the node reads nothing from stdin; it only waits for the end
        }
      } catch (IOException ignored) {
        // a broken stdin is an end too
      }
      LOG.info("stdin closed: shutting down");
      node.requestShutdown();
    }, "snakepit-shm-stdin");
    t.setDaemon(true);
    t.start();
  }
}

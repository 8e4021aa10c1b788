package io.snakepit.shm.cli;

import io.snakepit.shm.platform.OsFamily;
import io.snakepit.shm.platform.Platforms;
import java.nio.file.Path;
import java.util.List;

/**
 * The options of {@code snakepit-shm node}, parsed without side effects. Parsing errors
 * are returned as {@link UsageException}s, never by exiting.
 *
 * @param name            node name, with or without {@code @host}
 * @param cookie          cookie given on the command line, or null
 * @param cookieFile      file to read the cookie from, or null
 * @param shmDir          where segments live (Linux), or the node's private state directory
 *                        (macOS, Windows: segments are not files there; docs/PLATFORMS.md)
 * @param configFile      configuration file, or null
 * @param exitOnStdinEof  exit when stdin closes
 * @param operatorKeyFile file holding the operator key (SECURITY.md), or null for no operators
 * @param auditLog        file to append the audit log to, or null
 * @param sets            {@code KEY=VALUE} configuration flags, in order
 * @param help            print usage and exit
 * @param hostId          host id override (docs/SCALE_OUT.md), or null for $SNAKEPIT_SHM_HOST_ID or the derived one
 * @param shmDirIsDefault true when {@code --shm-dir} was not given and {@code shmDir} is the OS family's default
 */
public record NodeOptions(String name, String cookie, Path cookieFile, Path shmDir, Path configFile,
    boolean exitOnStdinEof, boolean help, Path operatorKeyFile, Path auditLog, List<String> sets, String hostId,
    boolean shmDirIsDefault) {

  public static final String DEFAULT_NAME = "snakepit_shm";
  /** The shm dir on Linux. */
  public static final Path DEFAULT_SHM_DIR = Path.of("/dev/shm");
  /** The default state dir on macOS and Windows is this prefix plus the user name, in java.io.tmpdir. */
  public static final String STATE_DIR_PREFIX = "snakepit-shm-";

  public static final String USAGE = String.join("\n",
      "usage: snakepit-shm node [options]",
      "",
      "Starts the shared-memory manager as a hidden Erlang node and prints",
      "'ready <node>' on stdout when it serves.",
      "",
      "options:",
      "  --name NAME           node name, NAME or NAME@HOST (default: snakepit_shm@<short hostname>)",
      "  --cookie COOKIE       distribution cookie (default: contents of ~/.erlang.cookie)",
      "  --cookie-file FILE    read the cookie from FILE (default: ~/.erlang.cookie)",
      "  --shm-dir DIR         Linux: directory of segments, a tmpfs or hugetlbfs (default: /dev/shm).",
      "                        macOS, Windows: segments are not files; DIR is the node's private state",
      "                        directory (default: <java.io.tmpdir>/snakepit-shm-<user>, created",
      "                        owner-only when missing; docs/PLATFORMS.md)",
      "  --config FILE         configuration file, 'key = value' lines (default: none)",
      "  --set KEY=VALUE       one configuration value; repeatable; wins over SNAKEPIT_SHM_<KEY>",
      "                        environment variables, which win over --config (default: none)",
      "  --audit-log FILE      append every region and security event to FILE as JSON lines",
      "                        (mode 0600; default: $SNAKEPIT_SHM_AUDIT_LOG, else none)",
      "  --exit-on-stdin-eof   exit when stdin closes, for use as an Erlang Port (default: off)",
      "  --operator-key-file FILE",
      "                        key that lets a caller list and inspect every tenant's regions;",
      "                        FILE must be yours with mode 0600 or 0400 (default: no operators)",
      "  --host-id ID          host id that descriptors and ping report, instead of the one derived",
      "                        from the host name and boot id; for containers and tests that act",
      "                        as several hosts (docs/SCALE_OUT.md; default: $SNAKEPIT_SHM_HOST_ID,",
      "                        else derived)",
      "  --help                print this help",
      "");

  /** Parses the arguments after {@code node}, with the defaults of the OS this JVM runs on. */
  public static NodeOptions parse(List<String> args) throws UsageException {
    return parse(args, Platforms.currentFamily());
  }

  /** Parses the arguments after {@code node}, with the defaults of {@code family}. */
  public static NodeOptions parse(List<String> args, OsFamily family) throws UsageException {
    return parse(args, defaultShmDir(family, System.getProperty("java.io.tmpdir"), System.getProperty("user.name")));
  }

  /**
   * The default shm dir of {@code family}: {@code /dev/shm} on Linux; on macOS and Windows,
   * where segments are not files, the private state directory
   * {@code <tmpDir>/snakepit-shm-<user>} (the user name with every character other than
   * letters, digits, '.', '_' and '-' replaced by '_').
   */
  public static Path defaultShmDir(OsFamily family, String tmpDir, String userName) {
    if (family == OsFamily.LINUX) {
      return DEFAULT_SHM_DIR;
    }
    String user = userName == null ? "" : userName.replaceAll("[^A-Za-z0-9._-]", "_");
    if (user.isEmpty()) {
      user = "user";
    }
    return Path.of(tmpDir == null || tmpDir.isEmpty() ? "." : tmpDir).resolve(STATE_DIR_PREFIX + user);
  }

  /** Parses the arguments after {@code node}; {@code defaultShmDir} applies when --shm-dir is not given. */
  static NodeOptions parse(List<String> args, Path defaultShmDir) throws UsageException {
    String name = DEFAULT_NAME;
    String cookie = null;
    Path cookieFile = null;
    Path shmDir = null;
    Path config = null;
    boolean exitOnEof = false;
    boolean help = false;
    Path operatorKeyFile = null;
    Path auditLog = null;
    List<String> sets = new java.util.ArrayList<>();
    String hostId = null;
    for (int i = 0; i < args.size(); i++) {
      String a = args.get(i);
      String flag = a;
      String inline = null;
      int eq = a.indexOf('=');
      if (a.startsWith("--") && eq > 0) {
        flag = a.substring(0, eq);
        inline = a.substring(eq + 1);
      }
      switch (flag) {
        case "--name" -> name = value(args, i++, flag, inline);
        case "--cookie" -> cookie = value(args, i++, flag, inline);
        case "--cookie-file" -> cookieFile = Path.of(value(args, i++, flag, inline));
        case "--shm-dir" -> shmDir = Path.of(value(args, i++, flag, inline));
        case "--config" -> config = Path.of(value(args, i++, flag, inline));
        case "--exit-on-stdin-eof" -> exitOnEof = true;
        case "--operator-key-file" -> operatorKeyFile = Path.of(value(args, i++, flag, inline));
        case "--audit-log" -> auditLog = Path.of(value(args, i++, flag, inline));
        case "--set" -> sets.add(value(args, i++, flag, inline));
        case "--host-id" -> hostId = value(args, i++, flag, inline);
        case "--help", "-h" -> help = true;
        default -> throw new UsageException(UsageException.BAD_ARGUMENTS,
            "unknown option '" + a + "' for node (see snakepit-shm node --help)");
      }
      if (inline != null) {
        i--;
      }
    }
    if (cookie != null && cookieFile != null) {
      throw new UsageException(UsageException.BAD_ARGUMENTS, "give --cookie or --cookie-file, not both");
    }
    if (!name.matches("[A-Za-z0-9_\\-]+(@[A-Za-z0-9_.\\-]+)?")) {
      throw new UsageException(UsageException.BAD_ARGUMENTS,
          "bad node name '" + name + "': use letters, digits, _ and -, optionally @host");
    }
    if (hostId != null) {
      try {
        io.snakepit.shm.node.HostIdentity.checkOverride(hostId);
      } catch (IllegalArgumentException e) {
        throw new UsageException(UsageException.BAD_ARGUMENTS, "--host-id: " + e.getMessage());
      }
    }
    boolean isDefault = shmDir == null;
    return new NodeOptions(name, cookie, cookieFile, isDefault ? defaultShmDir : shmDir, config, exitOnEof, help,
        operatorKeyFile, auditLog, List.copyOf(sets), hostId, isDefault);
  }

  private static String value(List<String> args, int i, String flag, String inline) throws UsageException {
    if (inline != null) {
      return inline;
    }
    if (i + 1 >= args.size() || args.get(i + 1).startsWith("--")) {
      throw new UsageException(UsageException.BAD_ARGUMENTS, flag + " needs a value");
    }
    return args.get(i + 1);
  }
}

package io.snakepit.shm.cli;

import io.snakepit.shm.platform.OsFamily;
import io.snakepit.shm.platform.PlatformText;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

/**
 * The flags the diagnostics commands share (which node, how to authenticate, output
 * format) and their resolved values.
 */
public final class CommonOptions {
  static final long DEFAULT_TIMEOUT_MS = 10_000;

  static final Flag NODE = new Flag("--node", "NAME", "snakepit_shm@<short hostname>, as 'node' names itself",
      "the node to ask, NAME or NAME@HOST");
  static final Flag COOKIE = new Flag("--cookie", "COOKIE", "read from the cookie file", "distribution cookie");
  static final Flag COOKIE_FILE = new Flag("--cookie-file", "FILE", "~/.erlang.cookie", "read the cookie from FILE");
  static final Flag OPERATOR_KEY_FILE = new Flag("--operator-key-file", "FILE", "none",
      "send the key in FILE as operator_key: every tenant's regions are seen (SECURITY.md)");
  static final Flag SHM_DIR = new Flag("--shm-dir", "DIR", "/dev/shm", "directory of segment files, for offline use");
  static final Flag JSON = new Flag("--json", null, "text", "print one JSON document on stdout");
  static final Flag TIMEOUT = new Flag("--timeout-ms", "N", Long.toString(DEFAULT_TIMEOUT_MS),
      "how long to wait for the node to connect and answer, in ms");
  static final Flag HELP = new Flag("--help", null, null, "print this help");

  private final CommandLine line;

  CommonOptions(CommandLine line) {
    this.line = line;
  }

  /** The flags every command talking to a node takes, then {@code extra}, then --json and --help. */
  static List<Flag> nodeFlags(Flag... extra) {
    List<Flag> out = new ArrayList<>(List.of(NODE, COOKIE, COOKIE_FILE, TIMEOUT));
    Collections.addAll(out, extra);
    out.add(JSON);
    out.add(HELP);
    return out;
  }

  boolean json() {
    return line.has(JSON.name());
  }

  long timeoutMs() throws UsageException {
    return line.longValue(TIMEOUT.name(), DEFAULT_TIMEOUT_MS, 1, 3_600_000);
  }

  Path shmDir() throws UsageException {
    return line.path(SHM_DIR.name(), NodeOptions.DEFAULT_SHM_DIR);
  }

  /** The full node name: {@code --node}, with {@code @<short hostname>} added when it has no host. */
  String nodeName() throws UsageException {
    String name = line.value(NODE.name(), NodeOptions.DEFAULT_NAME);
    if (!name.matches("[A-Za-z0-9_\\-]+(@[A-Za-z0-9_.\\-]+)?")) {
      throw new UsageException(UsageException.BAD_ARGUMENTS,
          "bad node name '" + name + "': use letters, digits, _ and -, optionally @host");
    }
    return name.contains("@") ? name : name + "@" + NodeCommand.shortHostName();
  }

  /** Where the cookie comes from, for messages: {@code --cookie}, the file named, or the default file. */
  String cookieSource() throws UsageException {
    if (line.has(COOKIE.name())) {
      return "--cookie";
    }
    Path file = cookieFile();
    return line.has(COOKIE_FILE.name()) ? "--cookie-file " + file : "the default cookie file " + file;
  }

  private Path cookieFile() throws UsageException {
    return line.path(COOKIE_FILE.name(), Path.of(System.getProperty("user.home"), ".erlang.cookie"));
  }

  /**
   * The cookie. An unreadable or empty cookie file means the node cannot be reached:
   * {@link UsageException#NODE_UNREACHABLE}, naming the node and the file.
   */
  String cookie() throws UsageException {
    if (line.has(COOKIE.name()) && line.has(COOKIE_FILE.name())) {
      throw new UsageException(UsageException.BAD_ARGUMENTS, "give --cookie or --cookie-file, not both");
    }
    if (line.has(COOKIE.name())) {
      String c = line.value(COOKIE.name(), "");
      if (c.isEmpty()) {
        throw new UsageException(UsageException.BAD_ARGUMENTS, "--cookie must not be empty");
      }
      return c;
    }
    Path file = cookieFile();
    try {
      String c = Files.readString(file, StandardCharsets.UTF_8).strip();
      if (!c.isEmpty()) {
        return c;
      }
      throw new UsageException(UsageException.NODE_UNREACHABLE, "cannot reach node " + nodeName() + ": "
          + cookieSource() + " is empty; pass --cookie or --cookie-file (" + NodeClient.epmdStatus(nodeName())
          + ")");
    } catch (IOException e) {
      throw new UsageException(UsageException.NODE_UNREACHABLE, "cannot reach node " + nodeName()
          + ": cannot read " + cookieSource() + " (" + e.getClass().getSimpleName()
          + "); pass --cookie or --cookie-file (" + NodeClient.epmdStatus(nodeName()) + ")");
    }
  }

  /** The operator key from {@code --operator-key-file}, or null when not given. */
  String operatorKey() throws UsageException {
    Path file = line.path(OPERATOR_KEY_FILE.name(), null);
    if (file == null) {
      return null;
    }
    if (!Files.isRegularFile(file, LinkOption.NOFOLLOW_LINKS)) {
      throw new UsageException(UsageException.ENVIRONMENT, "--operator-key-file " + file
          + " is not a regular file (symbolic links are refused)");
    }
    try {
      String key = Files.readString(file, StandardCharsets.UTF_8).strip();
      if (key.isEmpty()) {
        throw new UsageException(UsageException.ENVIRONMENT, "--operator-key-file " + file + " is empty");
      }
      return key;
    } catch (IOException e) {
      throw new UsageException(UsageException.ENVIRONMENT, "cannot read --operator-key-file " + file + " ("
          + e.getClass().getSimpleName() + ")");
    }
  }

  /**
   * Fails with status 1 when {@code family} keeps segments elsewhere than in files (macOS,
   * Windows): {@code what} (e.g. "list --offline") reads segment files, which do not exist
   * there. {@code instead} says what to do.
   */
  static void requireSegmentFiles(OsFamily family, String what, String instead) throws UsageException {
    String why = PlatformText.segmentsNotFiles(family);
    if (why != null) {
      throw new UsageException(UsageException.ENVIRONMENT, what + " reads segment files, but " + why + "; "
          + instead + " (docs/PLATFORMS.md)");
    }
  }

  /** Connects to the node; see {@link NodeClient#connect}. */
  NodeClient connect() throws UsageException {
    String node = nodeName();
    long timeoutMs = timeoutMs();
    String source = cookieSource();
    return NodeClient.connect(node, cookie(), source, timeoutMs);
  }
}

package io.snakepit.shm.node;

import io.snakepit.shm.registry.ShmException;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * Which host — which shared memory — this manager serves (docs/SCALE_OUT.md). Shared memory
 * is per kernel and per tmpfs mount, so a descriptor is usable only by processes on the
 * manager's host; every descriptor carries the {@link #id()} (key {@code host}) and
 * {@code :ping} reports the whole identity, so a client can pick the manager of its own host
 * and refuse (or copy) a descriptor made on another one.
 *
 * <p>The derived id is the first 8 bytes, as 16 lowercase hex digits, of
 * SHA-256({@code "snakepit-shm-host-v1\n" + hostname + "\n" + boot_id}), where hostname is
 * the kernel's node name ({@code /proc/sys/kernel/hostname}, as Erlang's
 * {@code inet:gethostname/0}) and boot_id the text of
 * {@code /proc/sys/kernel/random/boot_id} (empty where there is none). The Elixir client
 * ({@code SnakepitShm.Cluster.host_id/1}) computes the same from the same sources; the unit
 * tests of both pin the same test vector.
 *
 * <p>An override ({@code --host-id ID} or {@code SNAKEPIT_SHM_HOST_ID}) replaces the derived
 * id: for containers on one kernel that share (or do not share) a tmpfs, and for tests that
 * run two "hosts" on one machine.
 *
 * @param id     the host id descriptors carry
 * @param name   the host name (kernel node name)
 * @param bootId the boot id text, or null where the system has none
 * @param source {@code "derived"} or {@code "override"}
 */
public record HostIdentity(String id, String name, String bootId, String source) {
  /** Environment variable that overrides the derived id (the launcher's --host-id wins over it). */
  public static final String ENV = "SNAKEPIT_SHM_HOST_ID";
  /** What an override may look like. */
  private static final Pattern OVERRIDE = Pattern.compile("[A-Za-z0-9._:-]{1,64}");
  private static final Path HOSTNAME = Path.of("/proc/sys/kernel/hostname");
  private static final Path BOOT_ID = Path.of("/proc/sys/kernel/random/boot_id");
  private static final String PREFIX = "snakepit-shm-host-v1\n";

  public HostIdentity {
    if (id == null || name == null || source == null) {
      throw new IllegalArgumentException("host identity needs an id, a name and a source");
    }
  }

  /**
   * This machine's identity: {@code override} when not null (after {@link #checkOverride}),
   * else the derived id.
   *
   * @throws IllegalArgumentException for a malformed override
   */
  public static HostIdentity detect(String override) {
    String name = readHostName();
    String bootId = readBootId();
    if (override != null) {
      return new HostIdentity(checkOverride(override), name, bootId, "override");
    }
    return new HostIdentity(derive(name, bootId), name, bootId, "derived");
  }

  /**
   * The identity from {@code flag} (the launcher's {@code --host-id}, or null), else from
   * the environment variable {@link #ENV} (ignored when blank), else derived.
   */
  public static HostIdentity fromSources(String flag, Map<String, String> env) {
    String fromEnv = env.get(ENV);
    if (flag != null) {
      return detect(flag);
    }
    return detect(fromEnv == null || fromEnv.isBlank() ? null : fromEnv.strip());
  }

  /**
   * The override as given, if it is 1 to 64 characters of letters, digits, '.', '_', ':'
   * and '-'.
   *
   * @throws IllegalArgumentException otherwise, with a message naming the rule
   */
  public static String checkOverride(String override) {
    if (!OVERRIDE.matcher(override).matches()) {
      throw new IllegalArgumentException("bad host id '" + override
          + "': use 1 to 64 letters, digits, '.', '_', ':' or '-'");
    }
    return override;
  }

  /** The derived id of {@code hostname} and {@code bootId} (null or empty for none). */
  public static String derive(String hostname, String bootId) {
    String text = PREFIX + hostname + "\n" + (bootId == null ? "" : bootId);
    try {
      byte[] digest = MessageDigest.getInstance("SHA-256").digest(text.getBytes(StandardCharsets.UTF_8));
      return HexFormat.of().formatHex(digest, 0, 8);
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException("SHA-256 is missing from this JVM", e);
    }
  }

  /** The kernel's node name, as {@code uname -n}; falls back to Java's idea of it. */
  static String readHostName() {
    try {
      String name = Files.readString(HOSTNAME).strip();
      if (!name.isEmpty()) {
        return name;
      }
    } catch (IOException | SecurityException e) {
      // not Linux, or /proc is hidden: ask Java
    }
    try {
      return java.net.InetAddress.getLocalHost().getHostName();
    } catch (IOException e) {
      return "localhost";
    }
  }

  /** The boot id text in lower case, or null where there is none. */
  static String readBootId() {
    try {
      String text = Files.readString(BOOT_ID).strip().toLowerCase(Locale.ROOT);
      return text.isEmpty() ? null : text;
    } catch (IOException | SecurityException e) {
      return null;
    }
  }

  /** The id's bytes as descriptors carry them (US-ASCII). */
  byte[] idBytes() {
    return id.getBytes(StandardCharsets.US_ASCII);
  }

  /** {@code %{id:, name:, boot_id:, source:}} as {@code :ping} reports it. */
  Map<String, Object> asMap() {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("id", id);
    m.put("name", name);
    m.put("boot_id", bootId);
    m.put("source", new ShmException.Atom(source));
    return m;
  }
}

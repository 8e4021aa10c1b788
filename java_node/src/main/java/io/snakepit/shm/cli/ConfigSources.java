package io.snakepit.shm.cli;

import io.snakepit.shm.registry.ShmConfig;
import io.snakepit.shm.registry.ShmException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Builds the start-up configuration from its sources, later ones winning key by key
 * (OPERATIONS.md "Configuration"):
 *
 * <ol>
 *   <li>defaults (CONTRACT section 2; {@code max_total_bytes} is half the shm dir);
 *   <li>the file of {@code --config FILE};
 *   <li>environment variables {@code SNAKEPIT_SHM_<KEY>} (upper case, e.g.
 *       {@code SNAKEPIT_SHM_GRACE_MS=250});
 *   <li>{@code --set KEY=VALUE} flags, in order.
 * </ol>
 *
 * <p>At run time {@code {:config, {:set, map}}} changes the live configuration; nothing is
 * written back. Every value is validated by {@link ShmConfig#with}; a bad one names its
 * source and key.
 */
public final class ConfigSources {
  /** Environment variables of the launcher that are not configuration keys. */
  static final List<String> LAUNCHER_VARIABLES = List.of("SNAKEPIT_SHM_JAVA_OPTS", "SNAKEPIT_SHM_LOG_LEVEL",
      "SNAKEPIT_SHM_AUDIT_LOG", "SNAKEPIT_SHM_JAVA", "SNAKEPIT_SHM_JAR", "SNAKEPIT_SHM_JINTERFACE_JAR",
      "SNAKEPIT_SHM_HOST_ID");
  private static final String PREFIX = "SNAKEPIT_SHM_";
  private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(ConfigSources.class);

  private ConfigSources() {}

  /** The changes environment variables make, with the variable each came from. */
  static Map<String, Object> fromEnvironment(Map<String, String> env, Map<String, String> sourceOut)
      throws UsageException {
    Map<String, Object> out = new LinkedHashMap<>();
    for (Map.Entry<String, String> e : env.entrySet()) {
      String name = e.getKey();
      if (!name.startsWith(PREFIX) || LAUNCHER_VARIABLES.contains(name)) {
        continue;
      }
      String key = name.substring(PREFIX.length()).toLowerCase(Locale.ROOT);
      if (!ShmConfig.defaults(1L << 30).asMap().containsKey(key)) {
        // other parts of the project use SNAKEPIT_SHM_* too (the Python side, tests)
        LOG.warn("environment variable {} names no configuration key; ignored", name);
        continue;
      }
      out.put(key, ConfigFile.value(e.getValue()));
      sourceOut.put(key, "environment variable " + name);
    }
    return out;
  }

  /** The changes {@code --set KEY=VALUE} flags make. */
  static Map<String, Object> fromFlags(List<String> sets, Map<String, String> sourceOut) throws UsageException {
    Map<String, Object> out = new LinkedHashMap<>();
    for (String s : sets) {
      int eq = s.indexOf('=');
      if (eq <= 0) {
        throw new UsageException(UsageException.BAD_ARGUMENTS, "--set takes KEY=VALUE, got '" + s + "'");
      }
      String key = s.substring(0, eq).strip();
      out.put(key, ConfigFile.value(s.substring(eq + 1)));
      sourceOut.put(key, "--set " + s);
    }
    return out;
  }

  /** The configuration from every source, or a usage error naming the source of a bad value. */
  public static ShmConfig resolve(long shmDirTotalBytes, Path configFile, Map<String, String> env,
      List<String> sets) throws UsageException {
    ShmConfig config = ShmConfig.defaults(shmDirTotalBytes);
    if (configFile != null) {
      config = apply(config, ConfigFile.read(configFile), Map.of(), "config file " + configFile);
    }
    Map<String, String> sources = new LinkedHashMap<>();
    config = apply(config, fromEnvironment(env, sources), sources, null);
    sources.clear();
    return apply(config, fromFlags(sets, sources), sources, null);
  }

  private static ShmConfig apply(ShmConfig config, Map<String, Object> changes, Map<String, String> sources,
      String source) throws UsageException {
    try {
      return config.with(changes);
    } catch (ShmException ex) {
      Object key = ex.extra().get("key");
      String from = source != null ? source : sources.getOrDefault(String.valueOf(key), "configuration");
      throw new UsageException(UsageException.BAD_ARGUMENTS, from + ": " + ex.getMessage());
    }
  }
}

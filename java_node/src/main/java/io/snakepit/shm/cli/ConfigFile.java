package io.snakepit.shm.cli;

import io.snakepit.shm.registry.ShmException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Reads a configuration file: one {@code key = value} per line, {@code #} comments,
 * integers (with optional {@code _} separators) or atoms (with or without a leading
 * colon). The keys are those of {@code {:config, {:set, map}}}.
 */
public final class ConfigFile {
  private ConfigFile() {}

  /** The changes the file makes, as values {@code ShmConfig.with} accepts. */
  public static Map<String, Object> read(Path file) throws UsageException {
    List<String> lines;
    try {
      lines = Files.readAllLines(file);
    } catch (IOException e) {
      throw new UsageException(UsageException.ENVIRONMENT, "cannot read config file " + file + ": " + e.getMessage());
    }
    Map<String, Object> out = new LinkedHashMap<>();
    for (int n = 0; n < lines.size(); n++) {
      String line = lines.get(n);
      int hash = line.indexOf('#');
      if (hash >= 0) {
        line = line.substring(0, hash);
      }
      line = line.strip();
      if (line.isEmpty()) {
        continue;
      }
      int eq = line.indexOf('=');
      if (eq <= 0) {
        throw new UsageException(UsageException.BAD_ARGUMENTS,
            file + ":" + (n + 1) + ": expected 'key = value', got '" + line + "'");
      }
      String key = line.substring(0, eq).strip();
      out.put(key, value(line.substring(eq + 1)));
    }
    return out;
  }

  /**
   * A configuration value as written in a file, an environment variable or a
   * {@code --set} flag: an integer (underscores allowed) or an atom (leading colon optional).
   */
  public static Object value(String text) {
    String value = text.strip();
    String digits = value.replace("_", "");
    return digits.matches("-?\\d{1,18}") ? (Object) Long.parseLong(digits)
        : new ShmException.Atom(value.startsWith(":") ? value.substring(1) : value);
  }
}

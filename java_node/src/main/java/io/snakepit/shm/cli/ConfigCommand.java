package io.snakepit.shm.cli;

import com.ericsson.otp.erlang.OtpErlangObject;
import io.snakepit.shm.registry.ShmException;
import java.io.PrintStream;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.TreeMap;

/**
 * {@code snakepit-shm config get} and {@code config set KEY=VALUE...}: the node's live
 * configuration ({@code {:config, :get}}, {@code {:config, {:set, map}}}). Text output is in
 * the configuration file's syntax. A change lasts until the node stops; nothing is written
 * to its configuration file.
 */
final class ConfigCommand {
  static final CommandLine.Spec SPEC = new CommandLine.Spec("config", "get | set KEY=VALUE...",
      """
      'config get' prints the node's configuration in the configuration file's syntax
      ('key = value' lines, OPERATIONS.md). 'config set KEY=VALUE...' changes keys at run time:
      values are integers (underscores allowed) or atoms (infinity, sensitive, ...); the node
      checks every key and value before changing any, and prints the whole configuration
      after the change, marking what changed. Changes last until the node stops; put them in
      the node's --config file to keep them.""",
      CommonOptions.nodeFlags(), 1, Integer.MAX_VALUE,
      """
      examples:
        snakepit-shm config get
        snakepit-shm config set grace_ms=250 max_total_bytes=8_589_934_592""");

  private ConfigCommand() {}

  static int run(List<String> args, PrintStream out) throws UsageException {
    CommandLine line = CommandLine.parseOrHelp(SPEC, args, out);
    if (line == null) {
      return 0;
    }
    List<String> words = line.positional();
    String verb = words.get(0);
    Map<String, Object> changes = new LinkedHashMap<>();
    if (verb.equals("get")) {
      if (words.size() > 1) {
        throw new UsageException(UsageException.BAD_ARGUMENTS, "config get takes no arguments, got '"
            + String.join(" ", words.subList(1, words.size())) + "'");
      }
    } else if (verb.equals("set")) {
      changes = changes(words.subList(1, words.size()));
    } else {
      throw new UsageException(UsageException.BAD_ARGUMENTS, "config takes 'get' or 'set KEY=VALUE...', got '"
          + verb + "' (see snakepit-shm config --help)");
    }
    CommonOptions common = new CommonOptions(line);
    Map<String, Object> before;
    Map<String, Object> after;
    String node;
    try (NodeClient client = common.connect()) {
      node = client.node();
      before = TermValues.map(client.ok(NodeClient.tuple(NodeClient.atom("config"), NodeClient.atom("get")),
          "config get"), "config");
      if (changes.isEmpty()) {
        after = before;
      } else {
        after = TermValues.map(client.ok(NodeClient.tuple(NodeClient.atom("config"),
            NodeClient.tuple(NodeClient.atom("set"), NodeClient.map(terms(changes)))), "config set"), "config");
      }
    }
    if (common.json()) {
      out.println(Json.write(after));
      return 0;
    }
    out.print(render(before, after, node, !changes.isEmpty()));
    return 0;
  }

  /** {@code KEY=VALUE} words as changes ({@link ConfigFile#value}: Long or atom); later keys win. */
  static Map<String, Object> changes(List<String> words) throws UsageException {
    if (words.isEmpty()) {
      throw new UsageException(UsageException.BAD_ARGUMENTS, "config set needs at least one KEY=VALUE");
    }
    Map<String, Object> out = new LinkedHashMap<>();
    for (String w : words) {
      int eq = w.indexOf('=');
      if (eq <= 0 || eq == w.length() - 1) {
        throw new UsageException(UsageException.BAD_ARGUMENTS, "config set takes KEY=VALUE, got '" + w + "'");
      }
      String key = w.substring(0, eq).strip();
      if (!key.matches("[a-z][a-z0-9_]*")) {
        throw new UsageException(UsageException.BAD_ARGUMENTS, "'" + key + "' is not a configuration key "
            + "(lowercase letters, digits and _; see config get)");
      }
      out.put(key, ConfigFile.value(w.substring(eq + 1)));
    }
    return out;
  }

  private static Map<String, Object> terms(Map<String, Object> changes) {
    Map<String, Object> out = new LinkedHashMap<>();
    for (Map.Entry<String, Object> e : changes.entrySet()) {
      Object v = e.getValue();
      OtpErlangObject term = v instanceof ShmException.Atom a ? NodeClient.atom(a.name())
          : new com.ericsson.otp.erlang.OtpErlangLong((Long) v);
      out.put(e.getKey(), term);
    }
    return out;
  }

  /** The configuration as {@code key = value} lines, sorted, changed keys marked. */
  static String render(Map<String, Object> before, Map<String, Object> after, String node, boolean set) {
    StringBuilder sb = new StringBuilder("# configuration of " + node + " (configuration file syntax)\n");
    List<String> changed = new ArrayList<>();
    int width = 0;
    for (String k : after.keySet()) {
      width = Math.max(width, k.length());
    }
    for (Map.Entry<String, Object> e : new TreeMap<>(after).entrySet()) {
      Object old = before.get(e.getKey());
      boolean differs = set && !Objects.equals(old, e.getValue());
      if (differs) {
        changed.add(e.getKey() + " " + value(old) + " -> " + value(e.getValue()));
      }
      sb.append(String.format("%-" + width + "s = %s%s%n", e.getKey(), value(e.getValue()),
          differs ? "    # changed, was " + value(old) : ""));
    }
    if (set) {
      sb.append(changed.isEmpty() ? "# nothing changed: every value was already set\n"
          : "# changed: " + String.join(", ", changed) + " (until the node stops)\n");
    }
    return sb.toString();
  }

  private static String value(Object v) {
    return v instanceof Long n && Math.abs(n) >= 10_000 ? String.format(java.util.Locale.ROOT, "%,d", n).replace(',', '_')
        : String.valueOf(v);
  }
}

package io.snakepit.shm.cli;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The parsed arguments of one diagnostics command: flags (as {@code --flag VALUE} or
 * {@code --flag=VALUE}) and positional arguments, checked against the command's
 * {@link Spec}. Parsing has no side effects; every problem is a {@link UsageException}
 * with status {@link UsageException#BAD_ARGUMENTS} that names the flag.
 */
public final class CommandLine {
  /**
   * What a command accepts, and its help text.
   *
   * @param command       the command word(s), e.g. {@code config set}
   * @param arguments     the synopsis of its positional arguments ({@code ID}, {@code KEY=VALUE...}), or ""
   * @param description   what it does (lines)
   * @param flags         every flag it takes, {@code --help} included
   * @param minPositional fewest positional arguments
   * @param maxPositional most positional arguments ({@link Integer#MAX_VALUE}: any number)
   * @param footer        extra help lines after the flags (exit statuses, examples), or ""
   */
  public record Spec(String command, String arguments, String description, List<Flag> flags, int minPositional,
      int maxPositional, String footer) {

    /** The help text: usage line, description, one line per flag with its default. */
    public String help() {
      StringBuilder sb = new StringBuilder("usage: snakepit-shm ").append(command);
      if (!arguments.isEmpty()) {
        sb.append(' ').append(arguments);
      }
      sb.append(" [options]\n\n").append(description.strip()).append("\n\noptions:\n");
      for (Flag f : flags) {
        String synopsis = "  " + f.synopsis();
        // the default stays in one piece: '(default: ' and its value are never split across lines
        String text = f.help() + (f.defaultText() == null ? ""
            : " (default:\u00a0" + f.defaultText().replace(' ', '\u00a0') + ")");
        if (synopsis.length() > 26) {
          sb.append(synopsis).append('\n').append(" ".repeat(28));
        } else {
          sb.append(String.format("%-28s", synopsis));
        }
        sb.append(wrap(text, 28, 100).replace('\u00a0', ' ')).append('\n');
      }
      if (!footer.isEmpty()) {
        sb.append('\n').append(footer.strip()).append('\n');
      }
      return sb.toString();
    }

    Flag flag(String name) {
      for (Flag f : flags) {
        if (f.name().equals(name)) {
          return f;
        }
      }
      return null;
    }
  }

  private final Spec spec;
  private final Map<String, List<String>> values;
  private final List<String> positional;
  private final boolean help;

  private CommandLine(Spec spec, Map<String, List<String>> values, List<String> positional, boolean help) {
    this.spec = spec;
    this.values = values;
    this.positional = positional;
    this.help = help;
  }

  /** Parses {@code args} (the words after the command). {@code --help} anywhere wins over other errors. */
  /**
   * Parses {@code args}; with {@code --help}, prints the command's help to {@code out}
   * and returns null (the command then exits 0).
   */
  public static CommandLine parseOrHelp(Spec spec, List<String> args, java.io.PrintStream out)
      throws UsageException {
    CommandLine line = parse(spec, args);
    if (line.help()) {
      out.print(spec.help());
      return null;
    }
    return line;
  }

  public static CommandLine parse(Spec spec, List<String> args) throws UsageException {
    if (args.contains("--help") || args.contains("-h")) {
      return new CommandLine(spec, Map.of(), List.of(), true);
    }
    Map<String, List<String>> values = new LinkedHashMap<>();
    List<String> positional = new ArrayList<>();
    boolean flagsDone = false;
    for (int i = 0; i < args.size(); i++) {
      String a = args.get(i);
      if (flagsDone || !a.startsWith("--")) {
        positional.add(a);
        continue;
      }
      if (a.equals("--")) {
        flagsDone = true;
        continue;
      }
      int eq = a.indexOf('=');
      String name = eq > 0 ? a.substring(0, eq) : a;
      Flag f = spec.flag(name);
      if (f == null) {
        throw new UsageException(UsageException.BAD_ARGUMENTS, "unknown option '" + name + "' for "
            + spec.command() + " (see snakepit-shm " + spec.command() + " --help)");
      }
      String value;
      if (!f.takesValue()) {
        if (eq > 0) {
          throw new UsageException(UsageException.BAD_ARGUMENTS, name + " takes no value");
        }
        value = "";
      } else if (eq > 0) {
        value = a.substring(eq + 1);
      } else if (i + 1 < args.size() && !args.get(i + 1).startsWith("--")) {
        value = args.get(++i);
      } else {
        throw new UsageException(UsageException.BAD_ARGUMENTS, name + " needs a value (" + f.synopsis() + ")");
      }
      values.computeIfAbsent(name, k -> new ArrayList<>()).add(value);
    }
    if (positional.size() < spec.minPositional() || positional.size() > spec.maxPositional()) {
      String want = spec.arguments().isEmpty() ? "no arguments" : spec.arguments();
      throw new UsageException(UsageException.BAD_ARGUMENTS, spec.command() + " takes " + want + ", got "
          + (positional.isEmpty() ? "none" : "'" + String.join(" ", positional) + "'")
          + " (see snakepit-shm " + spec.command() + " --help)");
    }
    return new CommandLine(spec, values, List.copyOf(positional), false);
  }

  public Spec spec() {
    return spec;
  }

  /** True when {@code --help} was given. */
  public boolean help() {
    return help;
  }

  public boolean has(String flag) {
    return values.containsKey(flag);
  }

  /** The last value given for {@code flag}, or {@code dflt}. */
  public String value(String flag, String dflt) {
    List<String> v = values.get(flag);
    return v == null ? dflt : v.get(v.size() - 1);
  }

  public Path path(String flag, Path dflt) throws UsageException {
    String v = value(flag, null);
    if (v == null) {
      return dflt;
    }
    if (v.isBlank()) {
      throw new UsageException(UsageException.BAD_ARGUMENTS, flag + " needs a non-empty path");
    }
    return Path.of(v);
  }

  /** The value of {@code flag} as an integer in {@code [min, max]}, or {@code dflt} when absent. */
  public long longValue(String flag, long dflt, long min, long max) throws UsageException {
    String v = value(flag, null);
    if (v == null) {
      return dflt;
    }
    long n;
    try {
      n = Long.parseLong(v.replace("_", ""));
    } catch (NumberFormatException e) {
      throw new UsageException(UsageException.BAD_ARGUMENTS, flag + " takes an integer, got '" + v + "'");
    }
    if (n < min || n > max) {
      throw new UsageException(UsageException.BAD_ARGUMENTS, flag + " must be from " + min + " to " + max
          + ", got " + n);
    }
    return n;
  }

  /** The positional arguments, in order. */
  public List<String> positional() {
    return positional;
  }

  /** Refuses {@code flag} when {@code condition} holds, naming {@code why}. */
  public void refuse(String flag, boolean condition, String why) throws UsageException {
    if (condition && has(flag)) {
      throw new UsageException(UsageException.BAD_ARGUMENTS, flag + " " + why);
    }
  }

  /** Words of {@code text} wrapped at {@code width}, continuation lines indented by {@code indent}. */
  static String wrap(String text, int indent, int width) {
    StringBuilder sb = new StringBuilder();
    int col = indent;
    for (String word : text.split(" ")) {
      if (col > indent && col + 1 + word.length() > width) {
        sb.append('\n').append(" ".repeat(indent));
        col = indent;
      } else if (col > indent) {
        sb.append(' ');
        col++;
      }
      sb.append(word);
      col += word.length();
    }
    return sb.toString();
  }
}

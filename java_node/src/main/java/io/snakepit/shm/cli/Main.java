package io.snakepit.shm.cli;

import java.util.Arrays;
import java.util.List;

/**
 * Entry point of {@code java_node/bin/snakepit-shm}. Dispatches on the first argument;
 * parsing code never exits the JVM, only this method does, with the status the command
 * returned.
 */
public final class Main {
  static final String USAGE = String.join("\n",
      "usage: snakepit-shm <command> [options]",
      "",
      "commands:",
      "  node      start the shared-memory manager",
      "",
      "diagnostics (ask a running node; list, health and dump also work --offline):",
      "  list      list regions (--session, --tenant, --label, --limit, --offline)",
      "  show ID   one region: where it lies, holders, history",
      "  dump ID   hex and text of a range of a region's payload (--offset, --length)",
      "  stats     counters, latencies, pool, limits",
      "  health    status and checks; exit status 0 ok, 1 degraded, 2 failing, 3 unknown (--deep)",
      "  report    capacity, usage, alerts, recommendations (--html FILE for a page with plots)",
      "  gc        collect unreferenced regions and stale segments now",
      "  config    get, or set KEY=VALUE... at run time",
      "  sweep     find (and with --reclaim remove) segments of dead managers, without a node",
      "  help      print this help",
      "",
      "Every command takes --help (every flag, with its default) and --json (one JSON document",
      "on stdout). Diagnostics find the node as 'node' names itself (snakepit_shm@<short host>),",
      "or --node NAME; the cookie comes from --cookie, --cookie-file or ~/.erlang.cookie.",
      "Exit status: 0 ok, 1 environment or node error, 2 bad arguments, 3 node unreachable",
      "(health: 0 ok, 1 degraded, 2 failing, 3 unknown).",
      "");

  private Main() {}

  public static void main(String[] args) {
    int status;
    try {
      status = run(Arrays.asList(args));
    } catch (UsageException e) {
      System.err.println("snakepit-shm: " + e.getMessage());
      status = e.exitStatus();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      status = 1;
    } catch (RuntimeException | UnsatisfiedLinkError e) {
      System.err.println("snakepit-shm: " + e);
      status = 1;
    }
    System.out.flush();
    System.exit(status);
  }

  static int run(List<String> args) throws UsageException, InterruptedException {
    if (args.isEmpty() || args.get(0).equals("help") || args.get(0).equals("--help")) {
      System.out.print(USAGE);
      return args.isEmpty() ? UsageException.BAD_ARGUMENTS : 0;
    }
    return switch (args.get(0)) {
      case "node" -> NodeCommand.run(args.subList(1, args.size()));
      case "sweep" -> SweepCommand.run(args.subList(1, args.size()), System.out);
      case "list" -> ListCommand.run(args.subList(1, args.size()), System.out);
      case "show" -> ShowCommand.run(args.subList(1, args.size()), System.out);
      case "dump" -> DumpCommand.run(args.subList(1, args.size()), System.out);
      case "stats" -> StatsCommand.run(args.subList(1, args.size()), System.out);
      case "health" -> HealthCommand.run(args.subList(1, args.size()), System.out);
      case "report" -> ReportCommand.run(args.subList(1, args.size()), System.out);
      case "gc" -> GcCommand.run(args.subList(1, args.size()), System.out);
      case "config" -> ConfigCommand.run(args.subList(1, args.size()), System.out);
      default -> throw new UsageException(UsageException.BAD_ARGUMENTS,
          "unknown command '" + args.get(0) + "' (see snakepit-shm help)");
    };
  }
}

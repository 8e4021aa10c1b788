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
      "  node      start the shared-memory manager (snakepit-shm node --help)",
      "  sweep     find (and with --reclaim remove) segments of dead managers (snakepit-shm sweep --help)",
      "  help      print this help",
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
      case "node" -> NodeCommand.run(NodeOptions.parse(args.subList(1, args.size())));
      case "sweep" -> SweepCommand.run(args.subList(1, args.size()), System.out);
      default -> throw new UsageException(UsageException.BAD_ARGUMENTS,
          "unknown command '" + args.get(0) + "' (see snakepit-shm help)");
    };
  }
}

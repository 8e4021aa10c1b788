package io.snakepit.shm.cli;

import io.snakepit.shm.platform.Platforms;
import io.snakepit.shm.platform.SharedMemoryPlatform;
import io.snakepit.shm.segment.ManagerInstance;
import io.snakepit.shm.segment.StaleSweeper;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * {@code snakepit-shm sweep}: the stale sweep of OPERATIONS.md run offline, without a
 * node: reports (and with {@code --reclaim} removes) the segments of dead managers in a
 * shm dir. A dry run unless told; segments of live managers are never touched.
 */
public final class SweepCommand {
  static final String USAGE = String.join("\n",
      "usage: snakepit-shm sweep [--shm-dir DIR] [--reclaim] [--json]",
      "",
      "Finds segments left by dead managers (another boot, no such process, or a reused pid)",
      "and reports them; with --reclaim zeroes and removes them. Segments of live managers and",
      "files without a valid header are never touched.",
      "",
      "options:",
      "  --shm-dir DIR   directory of segments (default: /dev/shm)",
      "  --reclaim       remove what a dry run would report (default: dry run)",
      "  --json          print the result as one JSON object (default: text)",
      "  --help          print this help",
      "");

  private SweepCommand() {}

  public static int run(List<String> args, PrintStream out) throws UsageException {
    Path dir = NodeOptions.DEFAULT_SHM_DIR;
    boolean reclaim = false;
    boolean json = false;
    for (int i = 0; i < args.size(); i++) {
      switch (args.get(i)) {
        case "--shm-dir" -> {
          if (i + 1 >= args.size()) {
            throw new UsageException(UsageException.BAD_ARGUMENTS, "--shm-dir needs a value");
          }
          dir = Path.of(args.get(++i));
        }
        case "--reclaim" -> reclaim = true;
        case "--json" -> json = true;
        case "--help", "-h" -> {
          out.print(USAGE);
          return 0;
        }
        default -> throw new UsageException(UsageException.BAD_ARGUMENTS,
            "unknown option '" + args.get(i) + "' for sweep (see snakepit-shm sweep --help)");
      }
    }
    if (!Files.isDirectory(dir)) {
      throw new UsageException(UsageException.ENVIRONMENT, "shm dir " + dir + " does not exist or is not a directory");
    }
    SharedMemoryPlatform platform = Platforms.forCurrentOs();
    long pid = platform.currentPid();
    // this process owns no segment: an instance that matches none
    ManagerInstance self = new ManagerInstance("snakepit-shm-sweep", pid, platform.processStartTicks(pid), 0,
        platform.bootId());
    StaleSweeper.Result r = new StaleSweeper(platform, dir, self).sweep(!reclaim);
    if (json) {
      out.printf("{\"shm_dir\":\"%s\",\"dry_run\":%b,\"scanned\":%d,\"reclaimed\":%d,\"reclaimed_bytes\":%d,"
          + "\"live_manager_segments\":%d,\"without_header\":%d,\"duration_ms\":%d}%n", dir.toString().replace("\"", "\\\""),
          r.dryRun(), r.scanned(), r.reclaimed(), r.reclaimedBytes(), r.live(), r.unreadable(), r.durationMs());
    } else {
      out.printf("%s: %d segment(s) scanned; %d of dead managers %s (%d bytes); %d of live managers kept; "
          + "%d without a valid header kept; %d ms%n", dir, r.scanned(), r.reclaimed(),
          r.dryRun() ? "found (dry run: pass --reclaim to remove them)" : "reclaimed", r.reclaimedBytes(), r.live(),
          r.unreadable(), r.durationMs());
    }
    return 0;
  }
}

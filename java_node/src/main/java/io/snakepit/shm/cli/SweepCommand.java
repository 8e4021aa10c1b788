package io.snakepit.shm.cli;

import io.snakepit.shm.platform.OsFamily;
import io.snakepit.shm.platform.PlatformText;
import io.snakepit.shm.platform.Platforms;
import io.snakepit.shm.platform.SharedMemoryPlatform;
import io.snakepit.shm.segment.ManagerInstance;
import io.snakepit.shm.segment.StaleSweeper;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Supplier;

/**
 * {@code snakepit-shm sweep}: the stale sweep of OPERATIONS.md run offline, without a
 * node: reports (and with {@code --reclaim} removes) the segments of dead managers in a
 * shm dir. A dry run unless told; segments of live managers are never touched. On a
 * terminal it shows progress over many segments. Linux only: on macOS and Windows segments
 * are not files and cannot be listed, which the command says (docs/PLATFORMS.md).
 */
public final class SweepCommand {
  static final Flag RECLAIM = new Flag("--reclaim", null, "dry run", "remove what a dry run would report");
  static final Flag SHM_DIR = new Flag("--shm-dir", "DIR", "/dev/shm", "directory of segments");

  static final CommandLine.Spec SPEC = new CommandLine.Spec("sweep", "",
      """
      Finds segments left by dead managers (another boot, no such process, or a reused pid)
      and reports them; with --reclaim zeroes and removes them. Segments of live managers and
      files without a valid header that may still be being created are never touched. Needs
      no node; safe while nodes run. Linux only: on macOS and Windows segments are not files
      and cannot be listed (docs/PLATFORMS.md).""",
      List.of(SHM_DIR, RECLAIM, CommonOptions.JSON, CommonOptions.HELP), 0, 0,
      """
      examples:
        snakepit-shm sweep                  # what would be removed
        snakepit-shm sweep --reclaim --json""");

  private SweepCommand() {}

  public static int run(List<String> args, PrintStream out) throws UsageException {
    return run(args, out, Platforms::currentFamily);
  }

  /**
   * {@link #run(List, PrintStream)} with the OS family chosen by {@code os} (tests inject
   * one). The platform is selected first, so an unsupported OS or CPU gets its one-line
   * error before anything else; where segments cannot be listed (macOS, Windows) the sweep
   * says so and exits with status 1 instead of reporting "0 scanned".
   */
  static int run(List<String> args, PrintStream out, Supplier<OsFamily> os) throws UsageException {
    OsFamily family = os.get();
    CommandLine line = CommandLine.parseOrHelp(SPEC, args, out);
    if (line == null) {
      return 0;
    }
    String unavailable = PlatformText.segmentListingUnavailable(family);
    if (unavailable != null) {
      throw new UsageException(UsageException.ENVIRONMENT, "sweep: " + unavailable);
    }
    Path dir = line.path(SHM_DIR.name(), NodeOptions.DEFAULT_SHM_DIR);
    boolean reclaim = line.has(RECLAIM.name());
    if (!Files.isDirectory(dir)) {
      throw new UsageException(UsageException.ENVIRONMENT, "shm dir " + dir + " does not exist or is not a directory");
    }
    SharedMemoryPlatform platform = Platforms.forFamily(family);
    long pid = platform.currentPid();
    // this process owns no segment: an instance that matches none
    ManagerInstance self = new ManagerInstance("snakepit-shm-sweep", pid, platform.processStartTicks(pid), 0,
        platform.bootId());
    int total = ShmDirScan.segmentFiles(dir).size();
    Progress progress = Progress.onTerminal("swept");
    StaleSweeper.Result r = new StaleSweeper(platform, dir, self).sweep(!reclaim,
        n -> progress.update(n, Math.max(n, total), "segments"));
    progress.done();
    if (line.has(CommonOptions.JSON.name())) {
      Map<String, Object> doc = new LinkedHashMap<>();
      doc.put("shm_dir", dir.toString());
      doc.put("dry_run", r.dryRun());
      doc.put("scanned", (long) r.scanned());
      doc.put("reclaimed", (long) r.reclaimed());
      doc.put("reclaimed_bytes", r.reclaimedBytes());
      doc.put("live_manager_segments", (long) r.live());
      doc.put("without_header", (long) r.unreadable());
      doc.put("duration_ms", r.durationMs());
      out.println(Json.write(doc));
    } else {
      out.printf("%s: %d segment(s) scanned; %d of dead managers %s (%d bytes); %d of live managers kept; "
          + "%d without a valid header kept; %d ms%n", dir, r.scanned(), r.reclaimed(),
          r.dryRun() ? "found (dry run: pass --reclaim to remove them)" : "reclaimed", r.reclaimedBytes(), r.live(),
          r.unreadable(), r.durationMs());
    }
    return 0;
  }
}

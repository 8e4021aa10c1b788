package io.snakepit.shm.cli;

import java.io.PrintStream;
import java.util.List;
import java.util.Map;

/**
 * {@code snakepit-shm gc}: asks the node to collect now ({@code :gc}): unreferenced and
 * expired regions, dead OS-pid holders, empty pooled segments, stale segments of dead managers.
 */
final class GcCommand {
  static final CommandLine.Spec SPEC = new CommandLine.Spec("gc", "",
      """
      Makes the node collect now: deallocates every unreferenced region (without waiting for
      the rest of its grace period) and every region whose ttl ended, drops references of dead
      OS-pid holders, releases empty pooled segments, and sweeps the shm dir for segments of
      dead managers (as 'sweep --reclaim' does). Regions that are held are never touched.""",
      CommonOptions.nodeFlags(), 0, 0, "");

  private GcCommand() {}

  static int run(List<String> args, PrintStream out) throws UsageException {
    CommandLine line = CommandLine.parseOrHelp(SPEC, args, out);
    if (line == null) {
      return 0;
    }
    CommonOptions common = new CommonOptions(line);
    Map<String, Object> gc;
    String node;
    try (NodeClient client = common.connect()) {
      node = client.node();
      gc = TermValues.map(client.ok(NodeClient.atom("gc"), "gc"), "gc");
    }
    if (common.json()) {
      out.println(Json.write(gc));
      return 0;
    }
    Map<String, Object> sweep = TermValues.submap(gc, "sweep");
    out.println("gc on " + node + ": deallocated " + TermValues.longOf(gc, "deallocated", 0)
        + " unreferenced or expired region(s), dropped " + TermValues.longOf(gc, "os_pid_holders_dropped", 0)
        + " dead OS-pid holder(s), released " + TermValues.longOf(gc, "segments_released", 0)
        + " empty pooled segment(s)");
    out.println("stale sweep: " + TermValues.longOf(sweep, "scanned", 0) + " segment file(s) scanned, "
        + TermValues.longOf(sweep, "reclaimed", 0) + " of dead managers reclaimed ("
        + TextTable.bytes(sweep.get("reclaimed_bytes")) + "), " + TermValues.longOf(sweep, "own_segments", 0)
        + " the node's own, " + TermValues.longOf(sweep, "live_manager_segments", 0) + " of other live managers, "
        + TermValues.longOf(sweep, "without_header", 0) + " without a valid header, in "
        + TermValues.longOf(sweep, "duration_ms", 0) + " ms");
    return 0;
  }
}

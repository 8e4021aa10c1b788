package io.snakepit.shm.cli;

import java.io.PrintStream;
import java.util.List;
import java.util.Map;

/** {@code snakepit-shm stats}: the node's counters, latencies, pool use and limits ({@code :stats}). */
final class StatsCommand {
  static final CommandLine.Spec SPEC = new CommandLine.Spec("stats", "",
      """
      Shows the node's statistics: regions, segments, bytes in use and reserved, the pool and
      its fragmentation, headroom to each limit, latency per call (µs) and per registry
      operation (ns), errors by code, security events, top holders, bytes by tenant and
      session, raised alerts.""",
      CommonOptions.nodeFlags(), 0, 0, "");

  private StatsCommand() {}

  static int run(List<String> args, PrintStream out) throws UsageException {
    CommandLine line = CommandLine.parseOrHelp(SPEC, args, out);
    if (line == null) {
      return 0;
    }
    CommonOptions common = new CommonOptions(line);
    Map<String, Object> stats;
    String node;
    try (NodeClient client = common.connect()) {
      node = client.node();
      stats = TermValues.map(client.ok(NodeClient.atom("stats"), "stats"), "stats");
    }
    if (common.json()) {
      out.println(Json.write(stats));
      return 0;
    }
    out.print(render(stats, node, System.currentTimeMillis()));
    return 0;
  }

  static String render(Map<String, Object> s, String node, long now) {
    StringBuilder sb = new StringBuilder(ReportText.statsSummary(s, node));
    sb.append(ReportText.headroom(TermValues.list(s.get("headroom"))));
    sb.append(ReportText.latency("calls (latency as seen by the node):", TermValues.submap(s, "calls"), "_us"));
    sb.append(ReportText.latency("registry operations:", TermValues.submap(s, "operations"), "_ns"));
    sb.append(ReportText.title("errors by code:")).append("  ").append(ReportText.counts(TermValues.submap(s,
        "errors"))).append('\n');
    sb.append(ReportText.title("security events:")).append("  ").append(ReportText.counts(TermValues.submap(s,
        "security"))).append('\n');
    sb.append(ReportText.poolSegments(TermValues.list(TermValues.submap(s, "pool").get("segments")), 20));
    sb.append(ReportText.topHolders(TermValues.list(s.get("top_holders")), 10));
    sb.append(ReportText.bytesBy("bytes by tenant:", "TENANT", TermValues.submap(s, "bytes_by_tenant"), 10));
    sb.append(ReportText.bytesBy("bytes by session:", "SESSION", TermValues.submap(s, "bytes_by_session"), 10));
    sb.append(ReportText.alerts(TermValues.list(s.get("alerts")), now));
    return sb.toString();
  }
}

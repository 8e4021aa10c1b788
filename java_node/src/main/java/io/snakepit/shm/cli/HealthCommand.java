package io.snakepit.shm.cli;

import io.snakepit.shm.platform.OsFamily;
import io.snakepit.shm.platform.PlatformText;
import io.snakepit.shm.platform.Platforms;
import io.snakepit.shm.segment.ShmDirGuard;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.Supplier;

/**
 * {@code snakepit-shm health}: the node's health ({@code :health}), with {@code --deep} the
 * node, the segment headers and the shm dir checked against each other ({@link DeepCheck}),
 * or with {@code --offline} the shm dir alone ({@link OfflineHealth}). The exit status is
 * the status: 0 ok, 1 degraded, 2 failing, 3 unknown (the node could not be reached or asked).
 */
final class HealthCommand {
  static final int OK = 0;
  static final int DEGRADED = 1;
  static final int FAILING = 2;
  /** The health could not be learnt: the node is unreachable, or did not answer. */
  static final int UNKNOWN = UsageException.NODE_UNREACHABLE;

  static final Flag DEEP = new Flag("--deep", null, "off", "also check the node's regions and segments against "
      + "their headers in the segment files, and the shm dir for files the node does not know (Linux only)");
  static final Flag OFFLINE = new Flag("--offline", null, "ask the node", "check the segment files in --shm-dir "
      + "without a node: live and dead managers, files without a valid header, corrupt region headers, free space"
      + " (Linux only)");
  static final Flag SHM_DIR = new Flag("--shm-dir", "DIR", "/dev/shm with --offline; the node's own with --deep",
      "directory of segment files");

  static final CommandLine.Spec SPEC = new CommandLine.Spec("health", "",
      """
      Prints the node's health: its status and checks (shm dir, capacity, integrity,
      security, alerts), raised alerts, invalid regions and recent security events. The exit
      status says the result, for scripts and monitoring: 0 ok, 1 degraded, 2 failing,
      3 unknown (the node could not be reached, or did not answer).""",
      CommonOptions.nodeFlags(DEEP, CommonOptions.OPERATOR_KEY_FILE, OFFLINE, SHM_DIR), 0, 0,
      """
      exit status: 0 ok, 1 degraded, 2 failing (or bad arguments), 3 unknown (node unreachable)

      examples:
        snakepit-shm health || page-someone
        snakepit-shm health --deep --operator-key-file ~/.config/snakepit-shm/operator.key
        snakepit-shm health --offline --shm-dir /dev/shm""");

  private HealthCommand() {}

  static int run(List<String> args, PrintStream out) throws UsageException {
    return run(args, out, Platforms::currentFamily);
  }

  /**
   * {@link #run(List, PrintStream)}; {@code os} (tests inject one) is asked only with
   * --offline or --deep, which read segment files, before anything else is done.
   */
  static int run(List<String> args, PrintStream out, Supplier<OsFamily> os) throws UsageException {
    CommandLine line = CommandLine.parseOrHelp(SPEC, args, out);
    if (line == null) {
      return 0;
    }
    CommonOptions common = new CommonOptions(line);
    if (line.has(OFFLINE.name())) {
      OsFamily family = os.get();
      line.refuse(CommonOptions.OPERATOR_KEY_FILE.name(), true, "needs a node (drop --offline)");
      String why = PlatformText.segmentsNotFiles(family);
      if (why != null) {
        // the health of segments that cannot be read is unknown, not "ok, no segments"
        String message = "health --offline reads segment files, but " + why + "; ask the running node instead"
            + " (drop --offline; docs/PLATFORMS.md)";
        if (common.json()) {
          Map<String, Object> doc = new LinkedHashMap<>();
          doc.put("status", "unknown");
          doc.put("offline", true);
          doc.put("error", message);
          out.println(Json.write(doc));
        }
        throw new UsageException(UNKNOWN, message);
      }
      Path dir = line.path(SHM_DIR.name(), NodeOptions.DEFAULT_SHM_DIR);
      return OfflineHealth.run(dir, common.json(), out);
    }
    if (line.has(DEEP.name())) {
      CommonOptions.requireSegmentFiles(os.get(), "health --deep", "run health without --deep");
    }
    try {
      return online(line, common, out);
    } catch (UsageException e) {
      if (e.exitStatus() == UsageException.BAD_ARGUMENTS) {
        throw e;
      }
      if (common.json()) {
        Map<String, Object> doc = new LinkedHashMap<>();
        doc.put("status", "unknown");
        doc.put("node", common.nodeName());
        doc.put("error", e.getMessage());
        out.println(Json.write(doc));
      }
      // anything but an answer from the node leaves the health unknown
      throw new UsageException(UNKNOWN, e.getMessage());
    }
  }

  private static int online(CommandLine line, CommonOptions common, PrintStream out) throws UsageException {
    Map<String, Object> health;
    DeepCheck.Result deep = null;
    String node;
    boolean isDeep = line.has(DEEP.name());
    String operatorKey = isDeep ? common.operatorKey() : null;
    try (NodeClient client = common.connect()) {
      node = client.node();
      health = TermValues.map(client.ok(NodeClient.atom("health"), "health"), "health");
      if (isDeep) {
        Path dir = line.path(SHM_DIR.name(), Path.of(TermValues.text(health, "shm_dir")));
        String problem = ShmDirGuard.dirProblem(dir);
        if (problem != null) {
          throw new UsageException(UsageException.ENVIRONMENT, "health --deep: " + problem);
        }
        deep = new DeepCheck(client, operatorKey, Progress.onTerminal("checked")).run(dir);
      }
    }
    String nodeStatus = TermValues.text(health, "status");
    String status = nodeStatus;
    if (deep != null && !deep.mismatches().isEmpty() && status.equals("ok")) {
      status = "degraded";
    }
    if (common.json()) {
      Map<String, Object> doc = new LinkedHashMap<>(health);
      doc.put("status", status);
      if (deep != null) {
        doc.put("node_status", nodeStatus);
        doc.put("deep", deep.asMap());
      }
      out.println(Json.write(doc));
    } else {
      out.print(render(health, status, node, System.currentTimeMillis()));
      if (deep != null) {
        out.print(renderDeep(deep));
      }
    }
    return exitStatus(status);
  }

  /** 0 ok, 1 degraded, 2 failing; anything else is unknown (3). */
  static int exitStatus(String status) {
    return switch (status) {
      case "ok" -> OK;
      case "degraded" -> DEGRADED;
      case "failing" -> FAILING;
      default -> UNKNOWN;
    };
  }

  static String render(Map<String, Object> h, String status, String node, long now) {
    StringBuilder sb = new StringBuilder();
    sb.append("health of ").append(node).append(": ").append(status.toUpperCase(Locale.ROOT)).append(" (")
        .append(HumanUnits.count(TermValues.longOf(h, "regions", 0))).append(" region(s), shm dir ")
        .append(h.get("shm_dir")).append(")\n");
    sb.append(checks(TermValues.list(h.get("checks"))));
    sb.append(ReportText.alerts(TermValues.list(h.get("alerts")), now));
    List<Object> invalid = TermValues.list(h.get("invalid_regions"));
    if (!invalid.isEmpty()) {
      TextTable t = new TextTable("ID", "SEGMENT", ">OFFSET", ">DETECTED", "REASON");
      for (Object o : invalid) {
        Map<String, Object> m = TermValues.map(o, "invalid region");
        t.row(m.get("id"), m.get("segment"), m.get("offset"), TextTable.ago(TermValues.longOf(m, "detected_ms", 0),
            now), m.get("reason"));
      }
      sb.append(ReportText.title("invalid regions (corrupt headers, isolated; OPERATIONS.md \"Corruption\"):"))
          .append(t.render(2));
    }
    Map<String, Object> sec = TermValues.submap(h, "security");
    sb.append(ReportText.title("security:")).append("  ")
        .append(HumanUnits.count(TermValues.longOf(sec, "events_total", 0))).append(" event(s) since start: ")
        .append(ReportText.counts(TermValues.submap(sec, "events"))).append("; operator key ")
        .append(Boolean.TRUE.equals(sec.get("operator_key")) ? "set" : "not set").append(", acquire token ")
        .append(sec.get("acquire_token")).append('\n');
    for (Object p : TermValues.list(sec.get("shm_dir_problems"))) {
      sb.append("  shm dir problem: ").append(p).append('\n');
    }
    List<Object> recent = TermValues.list(sec.get("recent"));
    if (!recent.isEmpty()) {
      TextTable t = new TextTable(">AGO", "KIND", "CALL", "WHO", "ID", "DETAIL");
      for (int i = Math.max(0, recent.size() - 5); i < recent.size(); i++) {
        Map<String, Object> e = TermValues.map(recent.get(i), "event");
        t.row(TextTable.ago(TermValues.longOf(e, "at_ms", 0), now), e.get("kind"), e.get("call"),
            TextTable.orDash(e.get("who")), TextTable.orDash(e.get("id")), e.get("detail"));
      }
      sb.append("  most recent:\n").append(t.render(4));
    }
    return sb.toString();
  }

  /** The checks as a table: name, status, detail. */
  static String checks(List<Object> checks) {
    TextTable t = new TextTable("CHECK", "STATUS", "DETAIL");
    for (Object o : checks) {
      Map<String, Object> c = TermValues.map(o, "check");
      t.row(c.get("name"), c.get("status"), c.get("detail"));
    }
    return t.render(2);
  }

  static String renderDeep(DeepCheck.Result d) {
    StringBuilder sb = new StringBuilder(ReportText.title("deep check:"));
    sb.append("  ").append(d.segmentsChecked()).append(" segment header(s) and ").append(d.regionsChecked())
        .append(" region header(s) checked against the node in ").append(d.durationMs()).append(" ms; ")
        .append(d.otherManagerFiles()).append(" segment file(s) of other live managers left alone")
        .append(d.changedMeanwhile() > 0 ? "; " + d.changedMeanwhile() + " changed during the check (not counted)"
            : "")
        .append('\n');
    for (String n : d.notes()) {
      sb.append("  note: ").append(n).append('\n');
    }
    if (d.mismatches().isEmpty()) {
      sb.append("  no mismatch: registry, headers and shm dir agree\n");
    } else {
      TextTable t = new TextTable("MISMATCH", "WHERE", "DETAIL");
      for (DeepCheck.Mismatch m : d.mismatches().subList(0, Math.min(OfflineHealth.MAX_ROWS,
          d.mismatches().size()))) {
        t.row(m.kind(), m.where(), m.detail());
      }
      sb.append("  ").append(d.mismatches().size()).append(" mismatch(es):\n").append(t.render(2));
      if (d.mismatches().size() > OfflineHealth.MAX_ROWS) {
        sb.append("  ... and ").append(d.mismatches().size() - OfflineHealth.MAX_ROWS)
            .append(" more (--json lists all)\n");
      }
    }
    return sb.toString();
  }

  /** Worst of two statuses (ok < degraded < failing). */
  static String worst(String a, String b) {
    return exitStatus(a) >= exitStatus(b) ? a : b;
  }

  /** A check map as health has them. */
  static Map<String, Object> check(String name, String status, String detail) {
    Map<String, Object> c = new LinkedHashMap<>();
    c.put("name", name);
    c.put("status", status);
    c.put("detail", detail);
    return c;
  }
}

package io.snakepit.shm.cli;

import io.snakepit.shm.platform.OsFamily;
import io.snakepit.shm.platform.Platforms;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Supplier;

/**
 * {@code snakepit-shm list}: the regions a node holds ({@code {:list, filter}}), or with
 * {@code --offline} the regions whose headers are in the shm dir's segment files.
 */
final class ListCommand {
  static final Flag SESSION = new Flag("--session", "S", "any", "only regions of session S");
  static final Flag TENANT = new Flag("--tenant", "T", "regions without a tenant, or every tenant with "
      + "--operator-key-file", "only regions of tenant T");
  static final Flag LABEL = new Flag("--label", "L", "any", "only regions labelled L");
  static final Flag LIMIT = new Flag("--limit", "N", "1000", "at most N regions (up to " + ListCommand.MAX_LIMIT
      + ": one reply holds them all)");
  static final Flag OFFLINE = new Flag("--offline", null, "ask the node",
      "read the segment files in --shm-dir instead of asking a node (no node needs to run)");
  static final int DEFAULT_LIMIT = 1000;
  static final int MAX_LIMIT = 1_000_000;

  static final CommandLine.Spec SPEC = new CommandLine.Spec("list", "",
      """
      Lists regions: id, generation, size, state, references and holders, tenant, session,
      label, age and last access. A caller sees only regions without a tenant, or those of
      --tenant; with --operator-key-file it sees every tenant's. With --offline it reads the
      region headers in the segment files instead (id, generation, size, offset, state,
      segment, and the owning manager and whether it is alive) and needs no node; --offline
      works on Linux only, where segments are files.""",
      CommonOptions.nodeFlags(SESSION, TENANT, LABEL, LIMIT, CommonOptions.OPERATOR_KEY_FILE, OFFLINE,
          CommonOptions.SHM_DIR), 0, 0,
      """
      examples:
        snakepit-shm list --operator-key-file ~/.config/snakepit-shm/operator.key --limit 50
        snakepit-shm list --session job-42 --json
        snakepit-shm list --offline --shm-dir /dev/shm""");

  private ListCommand() {}

  static int run(List<String> args, PrintStream out) throws UsageException {
    return run(args, out, Platforms::currentFamily);
  }

  /**
   * {@link #run(List, PrintStream)}; {@code os} (tests inject one) is asked only with
   * --offline, which reads the shm dir, before anything there.
   */
  static int run(List<String> args, PrintStream out, Supplier<OsFamily> os) throws UsageException {
    CommandLine line = CommandLine.parseOrHelp(SPEC, args, out);
    if (line == null) {
      return 0;
    }
    CommonOptions common = new CommonOptions(line);
    long limit = line.longValue(LIMIT.name(), DEFAULT_LIMIT, 1, MAX_LIMIT);
    if (line.has(OFFLINE.name())) {
      OsFamily family = os.get();
      for (Flag f : List.of(SESSION, TENANT, LABEL, CommonOptions.OPERATOR_KEY_FILE)) {
        line.refuse(f.name(), true, "needs a node: segment headers carry no " + f.name().substring(2)
            + " (drop --offline)");
      }
      CommonOptions.requireSegmentFiles(family, "list --offline", "ask the running node instead (drop --offline)");
      return offline(common, limit, out, family);
    }
    Map<String, Object> filter = new LinkedHashMap<>();
    filter.put("session", line.value(SESSION.name(), null));
    filter.put("tenant", line.value(TENANT.name(), null));
    filter.put("label", line.value(LABEL.name(), null));
    filter.put("limit", limit);
    String operatorKey = common.operatorKey();
    filter.put("operator_key", operatorKey);
    List<Object> regions;
    String node;
    try (NodeClient client = common.connect()) {
      node = client.node();
      regions = TermValues.list(client.ok(NodeClient.tuple(NodeClient.atom("list"), NodeClient.map(filter)),
          "list"));
    }
    if (common.json()) {
      Map<String, Object> doc = new LinkedHashMap<>();
      doc.put("node", node);
      doc.put("count", (long) regions.size());
      doc.put("limit", limit);
      doc.put("regions", regions);
      out.println(Json.write(doc));
      return 0;
    }
    long now = System.currentTimeMillis();
    TextTable t = new TextTable("ID", ">GEN", ">SIZE", "STATE", ">REFS", "HOLDERS", "TENANT", "SESSION", "LABEL",
        ">CREATED", ">LAST ACCESS");
    long total = 0;
    for (Object o : regions) {
      Map<String, Object> r = TermValues.map(o, "region");
      total += TermValues.longOf(r, "size", 0);
      t.row(r.get("id"), r.get("generation"), TextTable.bytes(r.get("size")), r.get("state"), r.get("refcount"),
          holders(TermValues.list(r.get("holders"))), TextTable.orDash(r.get("tenant")),
          TextTable.orDash(r.get("session")), TextTable.orDash(r.get("label")),
          TextTable.ago(TermValues.longOf(r, "created_ms", 0), now),
          TextTable.ago(TermValues.longOf(r, "last_access_ms", 0), now));
    }
    if (!t.isEmpty()) {
      out.print(t.render(0));
    }
    out.println(regions.size() + " region(s), " + HumanUnits.bytes(total) + " in total, on " + node
        + (regions.size() >= limit ? "; showing the first " + limit + " (raise --limit)" : ""));
    if (operatorKey == null && !line.has(TENANT.name())) {
      out.println("(only regions without a tenant are shown: --tenant T or --operator-key-file FILE show others)");
    }
    return 0;
  }

  /** The holders of a region, short: the first one and how many more. */
  static String holders(List<Object> holders) {
    if (holders.isEmpty()) {
      return "-";
    }
    Map<String, Object> first = TermValues.map(holders.get(0), "holder");
    String s = TermValues.holder(first.get("holder"));
    long refs = TermValues.longOf(first, "refs", 1);
    if (refs > 1) {
      s += " x" + refs;
    }
    return holders.size() > 1 ? s + " +" + (holders.size() - 1) : s;
  }

  private static int offline(CommonOptions common, long limit, PrintStream out, OsFamily family)
      throws UsageException {
    Path dir = common.shmDir();
    if (!Files.isDirectory(dir)) {
      throw new UsageException(UsageException.ENVIRONMENT, "shm dir " + dir + " does not exist or is not a directory");
    }
    ShmDirScan.Result scan = new ShmDirScan(Platforms.forFamily(family), dir).scan(true,
        Progress.onTerminal("read"));
    List<ShmDirScan.Region> shown = new ArrayList<>();
    int freed = 0;
    int corrupt = 0;
    int headerless = 0;
    Map<String, ShmDirScan.Segment> segmentOf = new LinkedHashMap<>();
    for (ShmDirScan.Segment s : scan.segments()) {
      segmentOf.put(s.shmName(), s);
      corrupt += s.corruptHeaderOffsets().size();
      if (s.header() == null) {
        headerless++;
      }
      for (ShmDirScan.Region r : s.regions()) {
        if (r.state().equals("freed")) {
          freed++;
        } else if (shown.size() < limit) {
          shown.add(r);
        }
      }
    }
    if (common.json()) {
      out.println(Json.write(OfflineJson.document(scan, limit)));
      return 0;
    }
    long now = System.currentTimeMillis();
    TextTable t = new TextTable("ID", ">GEN", ">SIZE", ">OFFSET", "STATE", "SEGMENT", "KIND", "OWNER", "ALIVE",
        ">CREATED");
    for (ShmDirScan.Region r : shown) {
      ShmDirScan.Segment s = segmentOf.get(r.segment());
      t.row(r.id(), r.generation(), HumanUnits.bytes(r.size()), r.offset(), r.state(), r.segment(), s.kind(),
          s.owner().node() + " (pid " + s.owner().pid() + ")", s.owner().alive() ? "yes" : "no",
          TextTable.ago(r.createdMs(), now));
    }
    if (!t.isEmpty()) {
      out.print(t.render(0));
    }
    int live = 0;
    for (ShmDirScan.Region r : scan.regions()) {
      live += r.state().equals("freed") ? 0 : 1;
    }
    out.println("offline: " + live + " region(s) in " + scan.segments().size() + " segment file(s) of "
        + ShmDirScan.byOwner(scan.segments()).size() + " manager(s) in " + dir
        + (live > limit ? "; showing the first " + limit + " (raise --limit)" : ""));
    List<String> notes = new ArrayList<>();
    if (freed > 0) {
      notes.add(freed + " freed header(s) not shown (--json lists them)");
    }
    if (corrupt > 0) {
      notes.add(corrupt + " region header(s) with a wrong CRC (health --offline)");
    }
    if (headerless > 0) {
      notes.add(headerless + " file(s) without a valid segment header");
    }
    if (!notes.isEmpty()) {
      out.println("(" + String.join("; ", notes) + ")");
    }
    return 0;
  }
}

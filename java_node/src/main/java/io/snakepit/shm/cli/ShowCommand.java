package io.snakepit.shm.cli;

import java.io.PrintStream;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/** {@code snakepit-shm show ID}: everything the node knows of one region, with its history and holders. */
final class ShowCommand {
  static final Flag TENANT = new Flag("--tenant", "T", "none", "the region's tenant (needed for a region of a "
      + "tenant, unless --operator-key-file is given)");

  static final CommandLine.Spec SPEC = new CommandLine.Spec("show", "ID",
      """
      Shows one region (ID: 16 hex digits, as list prints it): state, size and where it lies
      (segment, path, offset), tenant, session, label, access, holders with their reference
      counts, and its recent history (allocated, acquired, released, ...), oldest first.""",
      CommonOptions.nodeFlags(TENANT, CommonOptions.OPERATOR_KEY_FILE), 1, 1,
      """
      example:
        snakepit-shm show 0000002a5c1e8f03 --operator-key-file ~/.config/snakepit-shm/operator.key""");

  private ShowCommand() {}

  static int run(List<String> args, PrintStream out) throws UsageException {
    CommandLine line = CommandLine.parseOrHelp(SPEC, args, out);
    if (line == null) {
      return 0;
    }
    CommonOptions common = new CommonOptions(line);
    String id = regionId(line.positional().get(0));
    Map<String, Object> info;
    String node;
    try (NodeClient client = common.connect()) {
      node = client.node();
      info = info(client, id, line.value(TENANT.name(), null), common.operatorKey(), "show " + id);
    }
    if (common.json()) {
      out.println(Json.write(info));
      return 0;
    }
    out.print(render(info, node, System.currentTimeMillis()));
    return 0;
  }

  /** A region id as the node writes it (16 lowercase hex digits), or a usage error. */
  static String regionId(String text) throws UsageException {
    String id = text.strip().toLowerCase(Locale.ROOT);
    if (!id.matches("[0-9a-f]{16}")) {
      throw new UsageException(UsageException.BAD_ARGUMENTS, "'" + text + "' is not a region id (16 hex digits, as "
          + "list prints them)");
    }
    return id;
  }

  /** {@code {:info, id, %{tenant:, operator_key:}}}, decoded. */
  static Map<String, Object> info(NodeClient client, String id, String tenant, String operatorKey, String what)
      throws UsageException {
    Map<String, Object> opts = new LinkedHashMap<>();
    opts.put("tenant", tenant);
    opts.put("operator_key", operatorKey);
    return TermValues.map(client.ok(NodeClient.tuple(NodeClient.atom("info"), NodeClient.binary(id),
        NodeClient.map(opts)), what), "info");
  }

  static String render(Map<String, Object> r, String node, long now) {
    StringBuilder sb = new StringBuilder();
    sb.append("region ").append(r.get("id")).append(" (generation ").append(r.get("generation")).append(") on ")
        .append(node).append('\n');
    TextTable t = new TextTable("FIELD", "VALUE");
    long size = TermValues.longOf(r, "size", 0);
    t.row("state", r.get("state"));
    t.row("size", HumanUnits.bytes(size) + " (" + HumanUnits.count(size) + " bytes)");
    t.row("segment", r.get("segment"));
    t.row("path", r.get("path"));
    t.row("offset", r.get("offset"));
    t.row("tenant", TextTable.orDash(r.get("tenant")));
    t.row("session", TextTable.orDash(r.get("session")));
    t.row("label", TextTable.orDash(r.get("label")));
    t.row("access", r.get("access"));
    t.row("sensitive", r.get("sensitive"));
    t.row("ttl", r.get("ttl_ms") == null ? "-" : HumanUnits.duration(TermValues.longOf(r, "ttl_ms", 0)));
    long created = TermValues.longOf(r, "created_ms", 0);
    long last = TermValues.longOf(r, "last_access_ms", 0);
    t.row("created", created > 0 ? HumanUnits.dateTime(created) + " (" + TextTable.ago(created, now) + ")" : "-");
    t.row("last access", last > 0 ? HumanUnits.dateTime(last) + " (" + TextTable.ago(last, now) + ")" : "-");
    t.row("accesses", r.get("access_count"));
    t.row("references", r.get("refcount"));
    // drop the header row: a field list reads better without it
    String fields = t.render(2);
    sb.append(fields.substring(fields.indexOf('\n') + 1));
    List<Object> holders = TermValues.list(r.get("holders"));
    sb.append("holders (").append(holders.size()).append("):\n");
    if (holders.isEmpty()) {
      sb.append("  none\n");
    } else {
      TextTable h = new TextTable("HOLDER", ">REFS");
      for (Object o : holders) {
        Map<String, Object> m = TermValues.map(o, "holder");
        h.row(TermValues.holder(m.get("holder")), m.get("refs"));
      }
      sb.append(h.render(2));
    }
    List<Object> history = TermValues.list(r.get("history"));
    sb.append("history (").append(history.size()).append(" event(s), oldest first):\n");
    if (history.isEmpty()) {
      sb.append("  none recorded\n");
    } else {
      TextTable h = new TextTable("AT", ">AGO", "EVENT", "WHO");
      for (Object o : history) {
        Map<String, Object> m = TermValues.map(o, "event");
        long at = TermValues.longOf(m, "at_ms", 0);
        h.row(HumanUnits.dateTime(at), TextTable.ago(at, now), m.get("event"),
            m.get("who") == null ? "node" : TermValues.holder(m.get("who")));
      }
      sb.append(h.render(2));
    }
    return sb.toString();
  }
}

package io.snakepit.shm.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** Argument parsing of the diagnostics commands and their help texts. */
class CommandLineTest {
  private static final List<CommandLine.Spec> SPECS = List.of(ListCommand.SPEC, ShowCommand.SPEC, DumpCommand.SPEC,
      StatsCommand.SPEC, HealthCommand.SPEC, ReportCommand.SPEC, GcCommand.SPEC, ConfigCommand.SPEC,
      SweepCommand.SPEC);

  @Test
  void flagsTakeValuesSeparatelyOrAfterAnEqualsSign() throws Exception {
    CommandLine l = CommandLine.parse(ListCommand.SPEC, List.of("--session", "s1", "--limit=5", "--json",
        "--tenant", "t", "--tenant", "t2"));
    assertEquals("s1", l.value("--session", null));
    assertEquals(5, l.longValue("--limit", 1000, 1, 100));
    assertTrue(l.has("--json"));
    assertEquals("t2", l.value("--tenant", null), "the last of a repeated flag wins");
    assertFalse(l.has("--offline"));
    assertEquals(1000, CommandLine.parse(ListCommand.SPEC, List.of()).longValue("--limit", 1000, 1, 100_000));
  }

  @Test
  void badArgumentsAreUsageErrorsThatNameTheFlag() {
    UsageException unknown = assertThrows(UsageException.class,
        () -> CommandLine.parse(ListCommand.SPEC, List.of("--sesion", "x")));
    assertEquals(UsageException.BAD_ARGUMENTS, unknown.exitStatus());
    assertTrue(unknown.getMessage().contains("--sesion") && unknown.getMessage().contains("list --help"),
        unknown.getMessage());
    UsageException missing = assertThrows(UsageException.class,
        () -> CommandLine.parse(ListCommand.SPEC, List.of("--limit", "--json")));
    assertTrue(missing.getMessage().contains("--limit needs a value"), missing.getMessage());
    UsageException switchValue = assertThrows(UsageException.class,
        () -> CommandLine.parse(ListCommand.SPEC, List.of("--json=yes")));
    assertTrue(switchValue.getMessage().contains("takes no value"), switchValue.getMessage());
    UsageException range = assertThrows(UsageException.class,
        () -> CommandLine.parse(ListCommand.SPEC, List.of("--limit", "0")).longValue("--limit", 1000, 1, 10));
    assertTrue(range.getMessage().contains("from 1 to 10"), range.getMessage());
    UsageException notNumber = assertThrows(UsageException.class,
        () -> CommandLine.parse(ListCommand.SPEC, List.of("--limit", "many")).longValue("--limit", 1000, 1, 10));
    assertTrue(notNumber.getMessage().contains("integer"), notNumber.getMessage());
  }

  @Test
  void positionalArgumentsAreCounted() throws Exception {
    assertEquals(List.of("00000000000000ff"),
        CommandLine.parse(ShowCommand.SPEC, List.of("00000000000000ff", "--json")).positional());
    UsageException none = assertThrows(UsageException.class, () -> CommandLine.parse(ShowCommand.SPEC, List.of()));
    assertTrue(none.getMessage().contains("show takes ID"), none.getMessage());
    assertThrows(UsageException.class, () -> CommandLine.parse(StatsCommand.SPEC, List.of("extra")));
    assertEquals(List.of("set", "a=1", "b=2"),
        CommandLine.parse(ConfigCommand.SPEC, List.of("set", "a=1", "b=2")).positional());
    assertEquals(List.of("--weird"), CommandLine.parse(ShowCommand.SPEC, List.of("--", "--weird")).positional());
  }

  @Test
  void helpWinsOverOtherProblems() throws Exception {
    assertTrue(CommandLine.parse(ShowCommand.SPEC, List.of("--no-such", "--help")).help());
    assertTrue(CommandLine.parse(StatsCommand.SPEC, List.of("-h")).help());
  }

  @Test
  void everyHelpListsEveryFlagWithItsDefault() {
    for (CommandLine.Spec spec : SPECS) {
      String help = spec.help();
      assertTrue(help.startsWith("usage: snakepit-shm " + spec.command()), help);
      for (Flag f : spec.flags()) {
        int at = help.indexOf("  " + f.synopsis());
        assertTrue(at >= 0, spec.command() + " --help does not list " + f.name() + ":\n" + help);
        if (!f.name().equals("--help")) {
          String rest = help.substring(at);
          String entry = rest.substring(0, nextFlagLine(rest));
          assertTrue(entry.contains("(default: "), spec.command() + " " + f.name() + " has no default:\n" + entry);
        }
      }
      assertTrue(help.contains("--json") && help.contains("--help"), help);
    }
  }

  private static int nextFlagLine(String rest) {
    int i = rest.indexOf("\n  --", 1);
    int blank = rest.indexOf("\n\n");
    int end = i < 0 ? rest.length() : i;
    return blank >= 0 ? Math.min(end, blank) : end;
  }

  @Test
  void nodeCommandsTakeTheConnectionFlags() {
    for (CommandLine.Spec spec : SPECS) {
      if (spec == SweepCommand.SPEC) {
        continue;
      }
      for (String flag : List.of("--node", "--cookie", "--cookie-file", "--timeout-ms", "--json", "--help")) {
        assertTrue(spec.flag(flag) != null, spec.command() + " lacks " + flag);
      }
    }
    for (CommandLine.Spec spec : List.of(ListCommand.SPEC, ShowCommand.SPEC, ReportCommand.SPEC,
        DumpCommand.SPEC, HealthCommand.SPEC)) {
      assertTrue(spec.flag("--operator-key-file") != null, spec.command() + " lacks --operator-key-file");
    }
  }

  @Test
  void theNodeNameGetsTheShortHostLikeTheNodeItself() throws Exception {
    assertEquals("snakepit_shm@" + NodeCommand.shortHostName(),
        new CommonOptions(CommandLine.parse(StatsCommand.SPEC, List.of())).nodeName());
    assertEquals("n1@elsewhere",
        new CommonOptions(CommandLine.parse(StatsCommand.SPEC, List.of("--node", "n1@elsewhere"))).nodeName());
    assertThrows(UsageException.class,
        () -> new CommonOptions(CommandLine.parse(StatsCommand.SPEC, List.of("--node", "bad name"))).nodeName());
  }

  @Test
  void aMissingCookieFileMeansTheNodeIsUnreachableAndSaysWhichFile() throws Exception {
    CommonOptions o = new CommonOptions(CommandLine.parse(StatsCommand.SPEC,
        List.of("--node", "n1", "--cookie-file", "/nonexistent/cookie")));
    UsageException e = assertThrows(UsageException.class, o::cookie);
    assertEquals(UsageException.NODE_UNREACHABLE, e.exitStatus());
    assertTrue(e.getMessage().contains("n1@") && e.getMessage().contains("--cookie-file /nonexistent/cookie"),
        e.getMessage());
    assertEquals("--cookie", new CommonOptions(CommandLine.parse(StatsCommand.SPEC, List.of("--cookie", "c")))
        .cookieSource());
    assertTrue(new CommonOptions(CommandLine.parse(StatsCommand.SPEC, List.of())).cookieSource()
        .startsWith("the default cookie file "));
  }

  @Test
  void configSetParsesKeyValuePairs() throws Exception {
    Map<String, Object> changes = ConfigCommand.changes(List.of("grace_ms=2_50", "zero_on_free=:always",
        "grace_ms=300"));
    assertEquals(300L, changes.get("grace_ms"));
    assertEquals(new io.snakepit.shm.registry.ShmException.Atom("always"), changes.get("zero_on_free"));
    assertThrows(UsageException.class, () -> ConfigCommand.changes(List.of()));
    assertThrows(UsageException.class, () -> ConfigCommand.changes(List.of("grace_ms")));
    assertThrows(UsageException.class, () -> ConfigCommand.changes(List.of("Grace=1")));
  }

  @Test
  void showTakesOnlyRegionIds() throws Exception {
    assertEquals("00000000000000ff", ShowCommand.regionId("00000000000000FF"));
    UsageException e = assertThrows(UsageException.class, () -> ShowCommand.regionId("ff"));
    assertEquals(UsageException.BAD_ARGUMENTS, e.exitStatus());
  }
}

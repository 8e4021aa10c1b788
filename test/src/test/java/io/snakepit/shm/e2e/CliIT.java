package io.snakepit.shm.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * The diagnostics CLI (java_node/bin/snakepit-shm list, show, dump, stats, health, report,
 * gc, sweep, config) against a real node holding regions made by an Elixir client, in text
 * and --json; the errors of an unreachable node; the offline modes after the node was
 * killed with SIGKILL.
 */
class CliIT extends E2eTest {
    private static final Duration CLI_TIMEOUT = Duration.ofSeconds(60);
    private static final List<String> COMMANDS = List.of("list", "show", "dump", "stats", "health", "report", "gc",
            "sweep", "config");

    private final List<Path> tempDirs = new ArrayList<>();
    private int runs;

    /** One finished CLI run. */
    private record Run(int status, String out, String err, String transcript) {
        Map<String, Object> json() {
            try {
                return MiniJson.object(MiniJson.parse(out));
            } catch (IllegalArgumentException e) {
                throw new AssertionError("--json printed no single JSON object: " + e.getMessage() + "\n"
                        + transcript, e);
            }
        }

        Run ok() {
            assertEquals(0, status, transcript);
            return this;
        }

        /** The non-blank lines of stderr, which must be exactly one. */
        String oneErrorLine() {
            List<String> lines = err.lines().filter(l -> !l.isBlank()).toList();
            assertEquals(1, lines.size(), "expected one line on stderr\n" + transcript);
            return lines.get(0);
        }
    }

    @AfterEach
    void deleteTempDirs() throws IOException {
        for (Path dir : tempDirs) {
            try (Stream<Path> paths = Files.walk(dir)) {
                for (Path p : paths.sorted(Comparator.reverseOrder()).toList()) {
                    Files.deleteIfExists(p);
                }
            }
        }
    }

    private Run cli(String... args) {
        ManagedProcess p = harness.startLauncher("cli-" + (++runs) + "-" + args[0], List.of(args));
        int status = p.awaitExit(CLI_TIMEOUT);
        return new Run(status, p.stdout(), p.stderr(), p.describeOutput());
    }

    /** A CLI run against the harness's node: {@code --node N --cookie-file F} added. */
    private Run node(String... args) {
        List<String> all = new ArrayList<>(List.of(args));
        all.addAll(List.of("--node", harness.nodeName(), "--cookie-file", harness.cookieFile().toString()));
        return cli(all.toArray(new String[0]));
    }

    private Path operatorKeyFile() throws IOException {
        Path dir = Files.createTempDirectory("snakepit-cli-",
                PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
        tempDirs.add(dir);
        Path key = dir.resolve("operator.key");
        Files.createFile(key, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")));
        Files.writeString(key, "cli-it-operator-key-" + System.nanoTime());
        return key;
    }

    /** Starts cli_regions.exs and waits until its regions exist; they stay until the harness closes. */
    private Map<String, String> regions() {
        ManagedProcess script = harness.startElixir("cli_regions");
        script.awaitLine(line -> line.equals("READY=1"), E2eHarness.SCRIPT_TIMEOUT, "READY=1 from cli_regions.exs");
        return ScriptResult.parse(script.stdout());
    }

    private static Set<String> ids(List<Object> regions) {
        return regions.stream().map(r -> (String) MiniJson.object(r).get("id")).collect(Collectors.toSet());
    }

    @Test
    void everyCommandDescribesANodeWithRegionsInTextAndJson() throws Exception {
        Path key = operatorKeyFile();
        harness.startNode("--operator-key-file", key.toString());
        Map<String, String> r = regions();
        String first = r.get("ID_0");
        String tenantId = r.get("TENANT_ID");
        String opKey = key.toString();

        // list: a caller without the operator key sees the regions without a tenant only
        Map<String, Object> visible = node("list", "--json").ok().json();
        assertEquals(Set.of(r.get("ID_0"), r.get("ID_1"), r.get("ID_2"), r.get("ID_3")),
                ids(MiniJson.array(visible.get("regions"))), visible.toString());
        Map<String, Object> all = node("list", "--json", "--operator-key-file", opKey).ok().json();
        assertEquals(5, MiniJson.array(all.get("regions")).size(), all.toString());
        assertEquals(2, MiniJson.array(node("list", "--json", "--session", "cli-session").ok().json()
                .get("regions")).size());
        Run listText = node("list", "--operator-key-file", opKey).ok();
        assertTrue(listText.out().contains(first) && listText.out().contains(tenantId)
                && listText.out().contains("cli-tenant") && listText.out().contains("5 region(s)"), listText.out());
        assertTrue(listText.out().lines().findFirst().orElse("").matches("ID\\s+GEN\\s+SIZE\\s+STATE.*"),
                listText.out());

        // show: info with holders and history
        Map<String, Object> info = node("show", first, "--json").ok().json();
        assertEquals(first, info.get("id"));
        assertEquals(100L, info.get("size"));
        assertEquals("live", info.get("state"));
        assertEquals("allocated", MiniJson.object(MiniJson.array(info.get("history")).get(0)).get("event"));
        assertEquals(1L, MiniJson.object(MiniJson.array(info.get("holders")).get(0)).get("refs"));
        Run showText = node("show", first).ok();
        assertTrue(showText.out().contains("history") && showText.out().contains("allocated")
                && showText.out().contains("cli-session") && showText.out().contains("#PID<"), showText.out());
        Run forbidden = node("show", tenantId);
        assertEquals(1, forbidden.status(), forbidden.transcript());
        assertTrue(forbidden.oneErrorLine().contains("forbidden"), forbidden.transcript());
        assertEquals("cli-tenant", node("show", tenantId, "--tenant", "cli-tenant", "--json").ok().json()
                .get("tenant"));
        assertEquals("cli-tenant", node("show", tenantId, "--operator-key-file", opKey, "--json").ok().json()
                .get("tenant"));

        // dump: bytes read from the segment file
        Map<String, Object> dump = node("dump", first, "--length", "22", "--json").ok().json();
        assertEquals("hello snakepit-shm cli", dump.get("text"));
        assertEquals(22L, dump.get("length"));
        assertTrue(((String) dump.get("hex")).startsWith("68656c6c6f"), dump.toString());
        Run dumpText = node("dump", first).ok();
        assertTrue(dumpText.out().contains("|hello snakepit-s|") && dumpText.out().contains("bytes 0..100 of 100"),
                dumpText.out());
        Map<String, Object> tail = node("dump", r.get("ID_3"), "--offset", Long.toString(Long.parseLong(
                r.get("SIZE_3")) - 10), "--json").ok().json();
        assertEquals(10L, tail.get("length"), "the default length stops at the end of the payload");
        Run outside = node("dump", first, "--offset", "100");
        assertEquals(2, outside.status(), outside.transcript());
        assertTrue(outside.oneErrorLine().contains("outside the payload"), outside.transcript());
        Run tooLong = node("dump", first, "--length", "65537");
        assertEquals(2, tooLong.status(), tooLong.transcript());

        // stats
        Map<String, Object> stats = node("stats", "--json").ok().json();
        assertEquals(5L, stats.get("regions"));
        assertEquals(2L, stats.get("segments"), "one pooled, one dedicated");
        Run statsText = node("stats").ok();
        assertTrue(statsText.out().contains("headroom") && statsText.out().contains("max_total_bytes")
                && statsText.out().contains("MiB"), statsText.out());

        // health, plain and deep
        Run health = node("health", "--json").ok();
        assertEquals("ok", health.json().get("status"));
        Map<String, Object> deep = node("health", "--deep", "--operator-key-file", opKey, "--json").ok().json();
        Map<String, Object> deepPart = MiniJson.object(deep.get("deep"));
        assertEquals(List.of(), deepPart.get("mismatches"), deep.toString());
        assertEquals(5L, deepPart.get("regions_checked"));
        assertEquals(2L, deepPart.get("segments_checked"));
        Run deepText = node("health", "--deep").ok();
        assertTrue(deepText.out().contains("no mismatch") && deepText.out().contains("not visible"),
                deepText.out());
        // a file named like a segment that nobody made: the deep check and the offline check see it
        Path stray = harness.shmDir().resolve("snk" + "q".repeat(22));
        Files.write(stray, new byte[8192]);
        Files.setLastModifiedTime(stray, FileTime.fromMillis(System.currentTimeMillis() - 60_000));
        try {
            Run degraded = node("health", "--deep", "--json");
            assertEquals(1, degraded.status(), degraded.transcript());
            Map<String, Object> d = degraded.json();
            assertEquals("degraded", d.get("status"));
            assertEquals("ok", d.get("node_status"));
            Map<String, Object> mismatch = MiniJson.object(MiniJson.array(MiniJson.object(d.get("deep"))
                    .get("mismatches")).get(0));
            assertEquals("unknown_file", mismatch.get("kind"));
            assertEquals(stray.toString(), mismatch.get("where"));
            Run offline = cli("health", "--offline", "--shm-dir", harness.shmDir().toString());
            assertEquals(1, offline.status(), offline.transcript());
            assertTrue(offline.out().lines().anyMatch(l -> l.matches("\\s*segment_headers\\s+degraded\\s.*")),
                    offline.out());
        } finally {
            Files.deleteIfExists(stray);
        }
        assertEquals(0, cli("health", "--offline", "--shm-dir", harness.shmDir().toString()).status());

        // report, and its HTML page
        Map<String, Object> report = node("report", "--json").ok().json();
        assertEquals(harness.nodeName(), report.get("node"));
        assertEquals(5L, MiniJson.object(report.get("usage")).get("regions"));
        Path htmlDir = Files.createTempDirectory("snakepit-cli-report-");
        tempDirs.add(htmlDir);
        Path html = htmlDir.resolve("report.html");
        Run reportText = node("report", "--html", html.toString()).ok();
        assertTrue(reportText.out().contains("recommendations") && reportText.out().contains("in use")
                && reportText.out().contains("headroom"), reportText.out());
        assertTrue(reportText.out().contains("wrote the HTML report to " + html), reportText.out());
        String page = Files.readString(html);
        assertTrue(page.contains("<svg"), "the HTML report plots usage and latency");

        // config get / set round trip
        assertEquals(100L, node("config", "get", "--json").ok().json().get("grace_ms"));
        Map<String, Object> set = node("config", "set", "grace_ms=250", "--json").ok().json();
        assertEquals(250L, set.get("grace_ms"));
        Run get = node("config", "get").ok();
        assertTrue(get.out().lines().anyMatch(l -> l.matches("grace_ms\\s+= 250")), get.out());
        Run setText = node("config", "set", "grace_ms=300").ok();
        assertTrue(setText.out().contains("changed, was 250"), setText.out());
        Run badValue = node("config", "set", "grace_ms=-1");
        assertEquals(2, badValue.status(), badValue.transcript());
        assertTrue(badValue.oneErrorLine().contains("grace_ms"), badValue.transcript());
        assertEquals(300L, node("config", "get", "--json").ok().json().get("grace_ms"), "nothing changed");

        // gc and the dry-run sweep leave held regions and a live node's segments alone
        Map<String, Object> gc = node("gc", "--json").ok().json();
        assertEquals(0L, gc.get("deallocated"), "every region is held");
        assertTrue(MiniJson.object(gc.get("sweep")).containsKey("scanned"), gc.toString());
        assertTrue(node("gc").ok().out().startsWith("gc on " + harness.nodeName()));
        List<String> before = harness.shmEntries();
        Run sweep = cli("sweep", "--shm-dir", harness.shmDir().toString()).ok();
        assertTrue(sweep.out().contains("0 of dead managers found (dry run")
                && sweep.out().contains("2 of live managers kept"), sweep.out());
        assertEquals(before, harness.shmEntries());
        assertEquals(5L, node("stats", "--json").ok().json().get("regions"));
    }

    @Test
    void everyCommandHasHelpListingItsFlagsWithDefaults() {
        for (String command : COMMANDS) {
            Run help = cli(command, "--help").ok();
            assertTrue(help.out().startsWith("usage: snakepit-shm " + command), help.transcript());
            assertTrue(help.out().contains("--json") && help.out().contains("(default: "), help.transcript());
            if (!command.equals("sweep")) {
                assertTrue(help.out().contains("--node NAME") && help.out().contains("--cookie-file FILE")
                        && help.out().contains("--timeout-ms N"), help.transcript());
            }
        }
        Run overview = cli("help").ok();
        for (String command : COMMANDS) {
            assertTrue(overview.out().contains("  " + command + " "), overview.out());
        }
        Run unknown = cli("list", "--no-such-flag");
        assertEquals(2, unknown.status(), unknown.transcript());
        assertTrue(unknown.oneErrorLine().contains("--no-such-flag"), unknown.transcript());
    }

    @Test
    void anUnreachableNodeGetsOneLineNamingTheNodeTheCookieAndEpmd() {
        harness.startNode(); // so that epmd runs and lists a node
        String missing = harness.uniqueName("snk_absent");
        Run absent = cli("list", "--node", missing, "--cookie-file", harness.cookieFile().toString());
        assertEquals(3, absent.status(), absent.transcript());
        String line = absent.oneErrorLine();
        assertTrue(line.contains(missing + "@") && line.contains("epmd answers") && line.contains("does not list")
                && line.contains("--cookie-file " + harness.cookieFile()) && line.contains("--offline"), line);

        Run wrongCookie = cli("stats", "--node", harness.nodeName(), "--cookie", "not-the-cookie");
        assertEquals(3, wrongCookie.status(), wrongCookie.transcript());
        String cookieLine = wrongCookie.oneErrorLine();
        assertTrue(cookieLine.contains(harness.nodeName()) && cookieLine.contains("lists it")
                && cookieLine.contains("cookie") && cookieLine.contains("--cookie"), cookieLine);

        Path noCookie = harness.cookieFile().resolveSibling("no-such-cookie");
        Run unreadable = cli("health", "--node", harness.nodeName(), "--cookie-file", noCookie.toString(), "--json");
        assertEquals(3, unreadable.status(), "health: 3 = unknown\n" + unreadable.transcript());
        String unreadableLine = unreadable.oneErrorLine();
        assertTrue(unreadableLine.contains(noCookie.toString()) && unreadableLine.contains("epmd")
                && unreadableLine.contains(harness.nodeName()), unreadable.transcript());
        assertEquals("unknown", unreadable.json().get("status"));

        Run health = cli("health", "--node", missing, "--cookie-file", harness.cookieFile().toString());
        assertEquals(3, health.status(), health.transcript());
    }

    @Test
    void listAndHealthWorkOfflineAfterTheNodeWasKilledAndSweepReclaimsItsSegments() {
        harness.startNode();
        Map<String, String> r = regions();
        harness.node().kill();
        String dir = harness.shmDir().toString();
        assertFalse(harness.shmEntries().isEmpty(), "SIGKILL leaves the segments behind");

        Map<String, Object> offline = cli("list", "--offline", "--shm-dir", dir, "--json").ok().json();
        List<Object> regions = MiniJson.array(offline.get("regions"));
        assertEquals(Set.of(r.get("ID_0"), r.get("ID_1"), r.get("ID_2"), r.get("ID_3"), r.get("ID_4")), ids(regions),
                "the headers name every region, whatever its tenant");
        for (Object o : regions) {
            Map<String, Object> region = MiniJson.object(o);
            assertEquals("live", region.get("state"));
            assertEquals(false, region.get("owner_alive"), region.toString());
            assertEquals(harness.nodeName(), region.get("owner_node"));
        }
        Map<String, Object> first = MiniJson.object(regions.stream().filter(o -> r.get("ID_0").equals(
                MiniJson.object(o).get("id"))).findFirst().orElseThrow());
        assertEquals(Long.parseLong(r.get("GEN_0")), first.get("generation"));
        assertEquals(Long.parseLong(r.get("OFFSET_0")), first.get("offset"));
        assertEquals(Long.parseLong(r.get("SIZE_0")), first.get("size"));
        Run text = cli("list", "--offline", "--shm-dir", dir).ok();
        assertTrue(text.out().contains(r.get("ID_3")) && text.out().contains("dedicated")
                && text.out().contains(" no "), text.out());
        Map<String, Object> dump = cli("dump", r.get("ID_0"), "--offline", "--shm-dir", dir, "--length", "5",
                "--json").ok().json();
        assertEquals("hello", dump.get("text"));

        Run health = cli("health", "--offline", "--shm-dir", dir, "--json");
        assertEquals(1, health.status(), "segments of a dead manager: degraded\n" + health.transcript());
        assertEquals(2, MiniJson.array(health.json().get("stale_segments")).size(), health.out());

        List<String> left = harness.shmEntries();
        assertTrue(cli("sweep", "--shm-dir", dir).ok().out().contains(left.size()
                + " of dead managers found (dry run"));
        assertEquals(left, harness.shmEntries(), "a dry run removes nothing");
        Map<String, Object> swept = cli("sweep", "--shm-dir", dir, "--reclaim", "--json").ok().json();
        assertEquals((long) left.size(), swept.get("reclaimed"));
        assertEquals(List.of(), harness.shmEntries());
        assertEquals(0, cli("health", "--offline", "--shm-dir", dir).status());
        assertEquals(0L, cli("list", "--offline", "--shm-dir", dir, "--json").ok().json().get("region_count"));
    }
}

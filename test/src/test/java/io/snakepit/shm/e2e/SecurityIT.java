package io.snakepit.shm.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.nio.file.attribute.UserPrincipalLookupService;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * Attacks on a real node (SECURITY.md), each named in the scenario output as
 * {@code ATTACK_NAME=outcome}: guessed and forged ids and tokens, ids of freed regions,
 * cross-tenant calls, wrong operator keys, writes through read-only descriptors, files of
 * the shm dir changed behind the node's back, unsafe operator key files. Each test also
 * checks the security event counts are exactly what it caused, since every test has a
 * node of its own.
 */
class SecurityIT extends E2eTest {
    private static final List<String> KINDS = List.of("tenant_denied", "not_holder", "read_only_write", "bad_token",
            "bad_operator_key", "freed_region", "freed_id", "stale_generation", "unknown_id", "shm_dir");
    private static final int TOKEN_GUESSES = 200;
    /** SECURITY.md: at most 20 log lines per event kind per minute. */
    private static final int LOG_LINES_PER_KIND_PER_MINUTE = 20;
    /** Three runs of the periodic check (integrity_check_ms 1000) after a change. */
    private static final long DETECT_LIMIT_MS = 3000;
    private static final Duration EXIT_TIMEOUT = Duration.ofSeconds(30);

    /**
     * (i) Guessing and forging: made-up ids are :not_found :unknown; the real id without
     * its token, with a random, flipped, truncated, extended, upper-case or swapped token,
     * and 200 guessed tokens, are :forbidden; ids of a freed region are :forbidden in its grace
     * period, then :not_found :freed, then :stale_generation once the slot is reused.
     */
    @Test
    void guessedForgedAndFreedIdsAreRefused() {
        harness.startNode();
        ScriptResult result = harness.runElixir("sec_forge", Integer.toString(TOKEN_GUESSES)).assertSucceeded();

        assertEquals(TOKEN_GUESSES, result.getLong("TOKEN_GUESSES_REFUSED"), result.transcript());
        assertEquals("not_found:unknown", result.get("ATTACK_unknown_id_next"), result.transcript());
        assertEquals("forbidden", result.get("ATTACK_no_token"), result.transcript());
        assertEquals("not_found:freed", result.get("ATTACK_freed_id_acquire"), result.transcript());
        assertEquals("not_found:stale_generation", result.get("ATTACK_stale_id"), result.transcript());
        // 7 forged tokens + the guesses + swapped + wrong under :optional + an old token on the slot's new region
        assertSecurityCounts(result.values(), Map.of("bad_token", (long) TOKEN_GUESSES + 10, "unknown_id", 4L,
                "freed_region", 1L, "freed_id", 4L, "stale_generation", 1L), result.transcript());

        String stderr = harness.node().stderr();
        long badTokenLines = stderr.lines().filter(l -> l.contains("security: bad_token in acquire")).count();
        assertTrue(badTokenLines >= 1 && badTokenLines <= LOG_LINES_PER_KIND_PER_MINUTE, badTokenLines
                + " 'security: bad_token in acquire' log lines for " + (TOKEN_GUESSES + 10)
                + " events; expected 1 to " + LOG_LINES_PER_KIND_PER_MINUTE + " (rate limit)\n"
                + harness.node().describeOutput());
        assertTrue(stderr.contains("security: unknown_id in acquire"), harness.node().describeOutput());
        assertFalse(stderr.contains(result.get("VICTIM_TOKEN")), "the node's log shows a token\n"
                + harness.node().describeOutput());
    }

    /**
     * (ii) Cross-tenant: tenant a's region asked for by tenant b, by no tenant and by
     * tenant "A" — acquire (with the right token), release, release_many, free, info,
     * write, read — is :forbidden even for its own holder; no listing by another tenant
     * or filter shows it; an operator key sent to a node without one is :forbidden.
     */
    @Test
    void crossTenantRequestsAreRefused() {
        harness.startNode();
        ScriptResult result = harness.runElixir("sec_tenant").assertSucceeded();

        String a = result.get("A_ID");
        for (String who : List.of("b", "none", "A")) {
            for (String call : List.of("acquire", "release", "release_many", "free", "info", "write", "read")) {
                assertEquals("forbidden", result.get("ATTACK_" + who + "_" + call),
                        "tenant " + who + " " + call + " of tenant a's region\n" + result.transcript());
            }
            assertFalse(result.get("LIST_" + who).contains(a), result.transcript());
        }
        assertEquals(result.get("B_ID"), result.get("LIST_b"), result.transcript());
        assertEquals(result.get("N_ID"), result.get("LIST_none"), result.transcript());
        assertEquals(a, result.get("LIST_a"), result.transcript());
        assertSecurityCounts(result.values(), Map.of("tenant_denied", 23L, "bad_operator_key", 2L),
                result.transcript());
        assertTrue(harness.node().stderr().contains("security: tenant_denied in free"),
                harness.node().describeOutput());
    }

    /**
     * (iii) Operator: with --operator-key-file the key lists every tenant's regions; wrong,
     * truncated and empty keys are :forbidden; the key does not stand in for a token or a
     * tenant; it is never shown by health, stats, config, list or the log.
     */
    @Test
    void theOperatorKeySeesEveryTenantAndWrongKeysAreRefused() throws IOException {
        String key = "op-" + harness.uniqueName("key") + "-0123456789abcdef";
        Path keyFile = privateFile("operator-key", key + "\n");
        try {
            harness.startNode("--operator-key-file", keyFile.toString());
            ScriptResult result = harness.runElixir("sec_operator", key).assertSucceeded();

            List<String> all = new ArrayList<>(List.of(result.get("A_ID"), result.get("B_ID"), result.get("N_ID")));
            all.sort(null);
            assertEquals(String.join(",", all), result.get("LIST_operator"), result.transcript());
            assertEquals(result.get("N_ID"), result.get("LIST_plain"), result.transcript());
            for (String attack : List.of("wrong_key_list", "truncated_key_list", "empty_key_list", "wrong_key_info")) {
                assertEquals("forbidden", result.get("ATTACK_" + attack), result.transcript());
            }
            assertEquals("true", result.get("HEALTH_OPERATOR_KEY"), result.transcript());
            assertEquals(3, result.getLong("OPERATOR_CALLS"), result.transcript());
            assertSecurityCounts(result.values(), Map.of("bad_operator_key", 4L, "bad_token", 1L), result.transcript());

            String stderr = harness.node().stderr();
            assertTrue(stderr.contains("security: bad_operator_key in list"), harness.node().describeOutput());
            assertTrue(stderr.contains("operator list by"), "operator calls are logged\n"
                    + harness.node().describeOutput());
            assertFalse(stderr.contains(key) || harness.node().stdout().contains(key),
                    "the node's output shows the operator key\n" + harness.node().describeOutput());
        } finally {
            Files.deleteIfExists(keyFile);
        }
    }

    /**
     * (iv) Read-only: a descriptor acquired with access: :read_only is mapped read-only by
     * Python (PROT_READ, seen in /proc/PID/maps), writes through it raise in Python, a write
     * through the node by the read-only holder is :forbidden, and the bytes stay as they
     * were. A forged descriptor naming a file that is no segment is refused by Python.
     */
    @Test
    void aReadOnlyDescriptorCannotBeWrittenFromPythonOrThroughTheNode() throws IOException {
        harness.startNode();
        PythonWorker python = harness.startPythonWorker();
        long pid = python.ping();
        ScriptResult result = harness.runElixir("sec_readonly", Long.toString(pid)).assertSucceeded();
        String ro = result.get("RO_DESC_JSON");
        String sha = result.get("SHA256");
        assertEquals("read_only", result.get("RO_ACCESS"), result.transcript());
        assertEquals("forbidden", result.get("ATTACK_ro_holder_write_via_node"), result.transcript());

        String fill = python.request("{\"op\":\"fill\",\"region\":" + ro + ",\"byte\":255}");
        assertTrue(fill.startsWith("error forbidden ") && fill.contains("read_only"),
                "python fill through a read-only descriptor: " + fill);
        String write = python.request("{\"op\":\"write_consistent\",\"region\":" + ro
                + ",\"offset\":0,\"hex\":\"deadbeef\"}");
        assertTrue(write.startsWith("error forbidden "), "python write_consistent through a read-only descriptor: "
                + write);
        assertEquals(sha, python.sha256(ro, 8192), "the bytes after the refused writes");

        python.hold(ro);
        String path = ro.replaceAll(".*\"path\":\"([^\"]+)\".*", "$1");
        List<String> maps = Files.readAllLines(Path.of("/proc/" + pid + "/maps")).stream()
                .filter(line -> line.endsWith(path)).toList();
        assertFalse(maps.isEmpty(), "python holds a mapping of " + path);
        for (String line : maps) {
            String perms = line.split("\\s+")[1];
            assertEquals("r--s", perms, "python's mapping of a read-only descriptor: " + line);
        }

        String forged = ro.replaceAll("\"path\":\"[^\"]+\"", "\"path\":\"/etc/hostname\"")
                .replaceAll("\"segment\":\"[^\"]+\"", "\"segment\":\"/hostname\"");
        String forgedReply = python.request("{\"op\":\"sha256\",\"region\":" + forged + "}");
        assertTrue(forgedReply.startsWith("error "), "python attach of a descriptor naming /etc/hostname: "
                + forgedReply);
        assertSecurityCounts(result.values(), Map.of("read_only_write", 1L), result.transcript());
    }

    /**
     * (v) Shm dir tampering behind the node's back — a live segment file chmod 0644, a
     * segment file deleted, the shm dir made world-writable — is seen by the periodic check
     * within {@value #DETECT_LIMIT_MS} ms: health :degraded, check :security :degraded,
     * security.shm_dir_problems naming the file, one shm_dir event each; once undone (or the
     * region of the deleted file gone), health is :ok again.
     */
    @Test
    void tamperingWithTheShmDirIsReportedWithinSeconds() throws IOException {
        harness.startNode();
        ManagedProcess holder = harness.startIdleProcess();
        DrivenScript driver = DrivenScript.start(harness, "sec_tamper", Long.toString(holder.pid()));
        Map<String, String> setup = driver.command("setup");
        assertEquals("ok", setup.get("HEALTH"), driver.transcript());
        Path pooled = Path.of(setup.get("POOLED_PATH"));
        Path dedicated = Path.of(setup.get("DEDICATED_PATH"));
        Path shmDir = harness.shmDir();

        Files.setPosixFilePermissions(pooled, PosixFilePermissions.fromString("rw-r--r--"));
        Map<String, String> chmodded = awaitHealth(driver, "degraded", pooled.toString());
        assertDegradedBy(chmodded, pooled.toString(), "has mode 644", 1, driver);

        Files.setPosixFilePermissions(pooled, PosixFilePermissions.fromString("rw-------"));
        awaitHealth(driver, "ok", "-");

        Files.delete(dedicated);
        Map<String, String> deleted = awaitHealth(driver, "degraded", dedicated.toString());
        assertDegradedBy(deleted, dedicated.toString(), "was removed", 2, driver);

        try {
            Files.setPosixFilePermissions(shmDir, PosixFilePermissions.fromString("rwxrwxrwx"));
            Map<String, String> open = awaitHealth(driver, "degraded", "world-writable");
            assertDegradedBy(open, shmDir.toString(), "world-writable", 3, driver);
        } finally {
            Files.setPosixFilePermissions(shmDir, PosixFilePermissions.fromString("rwx------"));
        }

        // the deleted file's problem lasts while its region lives
        driver.command("release " + setup.get("DEDICATED_ID"));
        Map<String, String> healed = awaitHealth(driver, "ok", "-");
        assertEquals("ok", healed.get("SECURITY_CHECK"), driver.transcript());
        assertSecurityCounts(healed, Map.of("shm_dir", 3L), driver.transcript());
        assertTrue(harness.node().stderr().contains("security: shm_dir in check"), harness.node().describeOutput());
        assertTrue(harness.node().isAlive(), harness.node().describeOutput());
    }

    /**
     * (vi) Security events: one request of each kind makes exactly one event of that kind;
     * health.security.recent holds each with its call, who (the caller's pid, naming its
     * node), region id and tenant; the log has a WARN line with the same context.
     */
    @Test
    void securityEventsAreCountedListedAndLogged() {
        harness.startNode();
        ScriptResult result = harness.runElixir("sec_events").assertSucceeded();

        Map<String, Long> one = new LinkedHashMap<>();
        KINDS.stream().filter(kind -> !kind.equals("shm_dir")).forEach(kind -> one.put(kind, 1L));
        assertSecurityCounts(result.values(), one, result.transcript());
        assertEquals(one.size(), result.getLong("HEALTH_EVENTS_TOTAL"), result.transcript());
        assertEquals(one.size(), result.getLong("RECENT_COUNT"), result.transcript());

        String self = result.get("SELF_NODE");
        String aId = result.get("A_ID");
        String[] badToken = result.get("RECENT_bad_token").split("\\|", -1);
        assertEquals("acquire", badToken[0], result.transcript());
        assertTrue(badToken[1].contains(self), "who names the caller's node " + self + ": " + badToken[1]);
        assertEquals(aId, badToken[2], result.transcript());
        assertEquals("t1", badToken[3], result.transcript());
        String[] tenantDenied = result.get("RECENT_tenant_denied").split("\\|", -1);
        assertEquals(List.of("info", aId, "t2"), List.of(tenantDenied[0], tenantDenied[2], tenantDenied[3]),
                result.transcript());
        assertEquals(result.get("F_ID"), result.get("RECENT_stale_generation").split("\\|", -1)[2],
                result.transcript());
        assertEquals(result.get("N_ID"), result.get("RECENT_read_only_write").split("\\|", -1)[2],
                result.transcript());

        String line = harness.node().stderr().lines().filter(l -> l.contains("security: bad_token in acquire"))
                .findFirst().orElseGet(() -> fail("no 'security: bad_token in acquire' line\n"
                        + harness.node().describeOutput()));
        assertTrue(line.contains("WARN") && line.contains("id=" + aId) && line.contains("tenant=t1")
                && line.contains(self), "the log line names the caller, region and tenant: " + line);
    }

    /**
     * (vii) The launcher refuses an operator key file that others may read (0644), one
     * shorter than 16 characters, a symbolic link, a directory, a missing file and (when
     * the tests run as root) one owned by another user, each with one line naming the file
     * and a non-zero status.
     */
    @Test
    void theLauncherRefusesAnUnsafeOperatorKeyFile() throws IOException {
        String goodKey = "a-good-operator-key-0123456789";
        Path target = privateFile("key-target", goodKey);
        Path readable = privateFile("key-0644", goodKey);
        Files.setPosixFilePermissions(readable, PosixFilePermissions.fromString("rw-r--r--"));
        Path shortKey = privateFile("key-short", "short-key-15chr\n");
        Path link = target.resolveSibling("key-link");
        Files.createSymbolicLink(link, target);
        Path directory = Files.createDirectory(target.resolveSibling("key-dir"));
        Path missing = target.resolveSibling("key-missing");
        Map<Path, String> cases = new LinkedHashMap<>();
        cases.put(readable, "chmod 600");
        cases.put(shortKey, "at least 16");
        cases.put(link, "symbolic link");
        cases.put(directory, "not a regular file");
        cases.put(missing, "does not exist");
        Path foreign = null;
        if (isRoot()) {
            foreign = privateFile("key-foreign", goodKey);
            UserPrincipalLookupService users = foreign.getFileSystem().getUserPrincipalLookupService();
            Files.setOwner(foreign, users.lookupPrincipalByName("nobody"));
            cases.put(foreign, "belongs to uid");
        }
        try {
            for (Map.Entry<Path, String> c : cases.entrySet()) {
                Path file = c.getKey();
                ManagedProcess launcher = harness.startLauncher("key-" + file.getFileName(), List.of("node",
                        "--name", harness.uniqueName("snk_e2e"), "--cookie-file", harness.cookieFile().toString(),
                        "--shm-dir", harness.shmDir().toString(), "--operator-key-file", file.toString()));
                assertNotEquals(0, launcher.awaitExit(EXIT_TIMEOUT), launcher.describeOutput());
                List<String> lines = launcher.stderr().lines().filter(l -> !l.isBlank()).toList();
                assertEquals(1, lines.size(), "expected a one-line reason\n" + launcher.describeOutput());
                assertTrue(lines.get(0).contains(file.toString()) && lines.get(0).contains(c.getValue()),
                        "the reason names " + file + " and says '" + c.getValue() + "': " + lines.get(0));
                assertFalse(launcher.stdout().contains("ready"), launcher.describeOutput());
                assertFalse(launcher.stderr().contains(goodKey), "the refusal shows the key: " + lines.get(0));
            }
        } finally {
            for (Path p : List.of(target, readable, shortKey, link, directory, missing)) {
                Files.deleteIfExists(p);
            }
            if (foreign != null) {
                Files.deleteIfExists(foreign);
            }
        }
    }

    // ------------------------------------------------------------------ helpers

    /** A 0600 file in the harness's private dir (0700, removed with the harness). */
    private Path privateFile(String name, String content) throws IOException {
        Path file = harness.cookieFile().resolveSibling(name);
        Files.createFile(file, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")));
        Files.writeString(file, content);
        return file;
    }

    private static boolean isRoot() throws IOException {
        return "0".equals(String.valueOf(Files.getAttribute(Path.of("/proc/self"), "unix:uid")));
    }

    private static Map<String, String> awaitHealth(DrivenScript driver, String status, String needle) {
        Map<String, String> values = driver.command("await " + status + " " + needle + " " + DETECT_LIMIT_MS);
        long elapsedMs = Long.parseLong(values.get("ELAPSED_MS"));
        assertTrue(elapsedMs <= DETECT_LIMIT_MS, "health " + status + " after " + elapsedMs + " ms\n"
                + driver.transcript());
        return values;
    }

    private static void assertDegradedBy(Map<String, String> values, String file, String what, long shmDirEvents,
            DrivenScript driver) {
        assertEquals("degraded", values.get("HEALTH"), driver.transcript());
        assertEquals("degraded", values.get("SECURITY_CHECK"), driver.transcript());
        boolean named = values.entrySet().stream().anyMatch(e -> e.getKey().startsWith("PROBLEM_")
                && e.getValue().contains(file) && e.getValue().contains(what));
        assertTrue(named, "security.shm_dir_problems names " + file + " (" + what + ")\n" + driver.transcript());
        assertEquals(shmDirEvents, Long.parseLong(values.get("SEC_shm_dir")), "shm_dir events\n"
                + driver.transcript());
    }

    /** Every kind's count is the expected one (0 when not named). */
    private static void assertSecurityCounts(Map<String, String> values, Map<String, Long> expected,
            String transcript) {
        Map<String, Long> want = new LinkedHashMap<>();
        Map<String, Long> got = new LinkedHashMap<>();
        for (String kind : KINDS) {
            want.put(kind, expected.getOrDefault(kind, 0L));
            String value = values.get("SEC_" + kind);
            got.put(kind, value == null ? null : Long.parseLong(value));
        }
        assertEquals(want, got, "stats.security counts must be exactly what the test caused\n" + transcript);
    }
}

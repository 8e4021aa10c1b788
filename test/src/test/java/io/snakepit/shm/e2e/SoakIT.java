package io.snakepit.shm.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInfo;
import org.junit.jupiter.api.Timeout;

/**
 * Soak with fault injection (issue 4, item 6): {@value #CLIENTS} Elixir client BEAMs
 * (test/src/test/elixir/soak_client.exs), each with {@value SoakClient#LANES} load lanes
 * and {@value SoakClient#WORKERS} Python workers (test/src/test/python/soak_worker.py),
 * allocate, write, verify, hand over and release regions for {@code soak.seconds}
 * (default 60) while processes are killed at random: holder processes inside the
 * clients, and by this test, with SIGKILL, Python workers (the client starts another),
 * the node (restarted with the same name and shm dir; clients reconnect) and whole client
 * BEAMs (another client is started).
 *
 * <p>Invariants: the clients report every checksum mismatch and every region found freed
 * while held ({@code VIOLATION} lines: none allowed; losses explained by a node kill or by
 * the death of a region's only holder are counted apart). Each restart must have
 * reclaimed the dead run's segments. Clients must still make progress after the last
 * kill. At the end, with clients and workers stopped: health ok, no region left, a
 * final {@code :gc} and SIGTERM leave no segment, and no soak process is left.
 *
 * <p>Seed and duration: {@link SoakSettings}. Figures: printed and written to
 * test/target/soak-summary.txt ({@link SoakSummary}).
 */
class SoakIT extends E2eTest {
    static final int CLIENTS = 2;
    private static final Duration STOP_WAIT = Duration.ofSeconds(10);
    private static final long DRAIN_MS = 5_000;
    /** Time allowed on top of the load: start-up, late kills, stopping, final checks. */
    private static final Duration BUDGET = Duration.ofSeconds(150);

    private final List<SoakClient> clients = new ArrayList<>();
    private final Map<String, Long> progressAtLastKill = new HashMap<>();
    private Random random;
    private SoakSummary summary;
    private String tag;
    private Path logDir;
    private int nextClient;
    private volatile boolean overBudget;
    private boolean nodeStarted;
    private String finalTranscript = "";

    /**
     * The two-minute default of junit-platform.properties does not fit a soak whose length
     * is a setting: this test bounds itself ({@link #watchdog}, duration + {@link #BUDGET}).
     */
    @Test
    @Timeout(value = 24, unit = TimeUnit.HOURS)
    void allocateWriteVerifyReleaseSurvivesRandomKillsOfHoldersWorkersClientsAndTheNode(TestInfo info) {
        SoakSettings settings = SoakSettings.fromEnvironment();
        System.out.printf("SoakIT: seed %d, %d s of load (override with -Dsoak.seed=N|random, -Dsoak.seconds=N)%n",
                settings.seed(), settings.seconds());
        random = new Random(settings.seed());
        summary = new SoakSummary(settings);
        tag = harness.uniqueName("soaktag");
        logDir = harness.layout().logDir(getClass().getSimpleName() + "." + info.getTestMethod().get().getName());
        long startedNs = System.nanoTime();
        ScheduledExecutorService alarm = watchdog(settings.duration().plus(BUDGET));
        try {
            run(settings);
        } catch (Throwable failure) {
            summary.incomplete = (overBudget ? "over the time budget; " : "") + failure.getClass().getSimpleName()
                    + ": " + firstLine(failure.getMessage());
            throw failure;
        } finally {
            alarm.shutdownNow();
            Thread.interrupted(); // cleanup below must not be cut short by the alarm
            summary.elapsedMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - startedNs);
            clients.forEach(client -> summary.addClient(client.lastStats()));
            clients.forEach(client -> summary.violations.addAll(client.violations()));
            killStrays();
            if (nodeStarted) {
                harness.node().saveLog(logDir.resolve("node-run-last.log"));
            }
            String text = summary.render();
            System.out.print(text);
            summary.write(harness.layout().root().resolve("test/target/soak-summary.txt"));
        }
        assertInvariants();
    }

    private void run(SoakSettings settings) {
        harness.startNode();
        nodeStarted = true;
        for (int i = 0; i < CLIENTS; i++) {
            startClient(settings);
        }
        long loadStartNs = System.nanoTime();
        for (SoakChaos.Action action : SoakChaos.plan(random, settings)) {
            sleepUntil(loadStartNs, action.atMs());
            checkClients();
            if (!action.required() && elapsedMs(loadStartNs) > SoakChaos.windowEndMs(settings)) {
                summary.killsSkippedLate++;
                log("late: skipping an optional " + action.kind() + " kill");
                continue;
            }
            perform(action, settings);
            recordProgress();
        }
        long quietUntilMs = Math.max(settings.seconds() * 1000L, elapsedMs(loadStartNs) + 5_000);
        sleepUntil(loadStartNs, quietUntilMs);
        checkClients();
        assertProgressSinceLastKill();
        stopClients();
        finalChecks();
    }

    // --- chaos ---------------------------------------------------------------

    private void perform(SoakChaos.Action action, SoakSettings settings) {
        switch (action.kind()) {
            case PYTHON_WORKER -> killPythonWorker();
            case NODE -> killAndRestartNode();
            case BEAM_CLIENT -> killClient(settings);
        }
    }

    private void killPythonWorker() {
        List<SoakClient> live = liveClients();
        Collections.shuffle(live, random);
        for (SoakClient client : live) {
            List<ProcessHandle> workers = client.pythonWorkers();
            if (!workers.isEmpty()) {
                ProcessHandle worker = workers.get(random.nextInt(workers.size()));
                worker.destroyForcibly();
                awaitGone(List.of(worker), "killed python worker");
                summary.pythonWorkerKills++;
                log("killed python worker " + worker.pid() + " of " + client);
                return;
            }
        }
        summary.pythonWorkerKillsSkipped++;
        log("no python worker running to kill");
    }

    private void killAndRestartNode() {
        ManagedProcess dead = harness.node();
        dead.kill();
        summary.nodeKills++;
        dead.saveLog(logDir.resolve("node-run-" + summary.nodeKills + ".log"));
        Set<String> deadRun = new HashSet<>(harness.shmEntries());
        long killedAtNs = System.nanoTime();
        harness.restartNode();
        Set<String> left = new HashSet<>(harness.shmEntries());
        left.retainAll(deadRun);
        if (!left.isEmpty()) {
            // A kill that lands while the node creates a segment leaves a file without a
            // header; the sweep reclaims it once it is older than the creation grace
            // (StaleSweeper.CREATION_GRACE_MS, 2 s) and nobody holds its creation lock.
            long waitMs = 2_500 - (System.nanoTime() - killedAtNs) / 1_000_000;
            if (waitMs > 0) {
                try {
                    Thread.sleep(waitMs);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
            ManagedProcess sweep = harness.startLauncher("sweep-after-kill-" + summary.nodeKills,
                    List.of("sweep", "--shm-dir", harness.shmDir().toString(), "--reclaim"));
            sweep.awaitExit(java.time.Duration.ofSeconds(30));
            int before = left.size();
            left.retainAll(new HashSet<>(harness.shmEntries()));
            summary.interruptedCreationsReclaimed += before - left.size();
        }
        summary.staleSegmentsAfterRestart += left.size();
        summary.deadRunSegmentsReclaimed += deadRun.size() - left.size();
        log("killed the node (SIGKILL) and restarted it: " + deadRun.size() + " dead-run segment(s), "
                + left.size() + " left after the restart");
    }

    private void killClient(SoakSettings settings) {
        List<SoakClient> live = liveClients();
        SoakClient victim = live.get(random.nextInt(live.size()));
        List<ProcessHandle> workers = victim.pythonWorkers();
        victim.kill();
        summary.clientKills++;
        // Its Python workers read EOF on stdin and exit.
        awaitGone(workers, "python worker of killed " + victim);
        log("killed " + victim + " (SIGKILL); its " + workers.size() + " python worker(s) exited");
        startClient(settings);
    }

    private SoakClient startClient(SoakSettings settings) {
        int index = nextClient++;
        SoakClient client = SoakClient.start(harness, index, settings.seed() + index, tag);
        clients.add(client);
        summary.clientsStarted++;
        return client;
    }

    // --- checks during the run --------------------------------------------------

    private List<SoakClient> liveClients() {
        return new ArrayList<>(clients.stream().filter(client -> !client.killed()).toList());
    }

    /** Fails at once if a client died on its own (it exits on a failed expectation). */
    private void checkClients() {
        for (SoakClient client : clients) {
            if (!client.healthy()) {
                fail(client + " exited on its own (seed " + summary.settings.seed() + ")\n"
                        + client.process().describeOutput());
            }
        }
        if (!harness.node().isAlive()) {
            fail("the node died without being killed (seed " + summary.settings.seed() + ")\n"
                    + harness.node().describeOutput());
        }
    }

    private void recordProgress() {
        for (SoakClient client : liveClients()) {
            progressAtLastKill.put(client.process().label(), client.lastStats().getOrDefault("allocations", 0L));
        }
    }

    /** Every client carries on after the last kill (node restarts included). */
    private void assertProgressSinceLastKill() {
        for (SoakClient client : liveClients()) {
            long before = progressAtLastKill.getOrDefault(client.process().label(), 0L);
            long now = client.lastStats().getOrDefault("allocations", 0L);
            assertTrue(now > before, client + " made no allocation after the last kill (" + before + " -> " + now
                    + "; seed " + summary.settings.seed() + ")\n" + client.process().describeOutput());
        }
    }

    // --- the end ----------------------------------------------------------------

    private void stopClients() {
        List<SoakClient> live = liveClients();
        live.forEach(SoakClient::requestStop);
        for (SoakClient client : live) {
            int status = client.awaitStop();
            assertEquals(0, status, client + " exit status after stop\n" + client.process().describeOutput());
            assertTrue(client.done(), client + " did not stop in order\n" + client.process().describeOutput());
        }
    }

    private void finalChecks() {
        ScriptResult end = harness.runElixir("soak_final", Long.toString(DRAIN_MS)).assertSucceeded();
        summary.health = end.get("HEALTH") + " (" + end.get("HEALTH_CHECKS") + ")";
        summary.regionsBeforeGc = end.getLong("REGIONS_BEFORE_GC");
        summary.regionsAfterGc = end.getLong("REGIONS");
        summary.segmentsAfterGc = end.getLong("SEGMENTS");
        summary.leakedSegmentsAfterGc = harness.shmEntries().size();
        summary.healthOk = "ok".equals(end.get("HEALTH"));
        finalTranscript = end.transcript();
        log("final: " + end.values());

        ManagedProcess node = harness.node();
        node.terminate();
        summary.nodeExitStatus = node.awaitExit(Duration.ofSeconds(30));
        summary.leakedSegmentsAfterStop = harness.shmEntries().size();
        summary.strayProcesses = awaitNoStrays().size();
    }

    private void assertInvariants() {
        String seed = " (seed " + summary.settings.seed() + "; logs in " + logDir + ")";
        assertEquals(List.of(), summary.violations, "invariant violations reported by the clients" + seed);
        assertTrue(summary.healthOk, "node health after the chaos: " + summary.health + seed + "\n" + finalTranscript);
        assertEquals(0, summary.regionsBeforeGc, "regions left " + DRAIN_MS + " ms after every holder stopped"
                + seed + "\n" + finalTranscript);
        assertEquals(0, summary.counter("checksum_mismatches"), "checksum mismatches" + seed);
        assertEquals(0, summary.counter("freed_while_held"), "regions freed while held" + seed);
        assertEquals(0, summary.counter("other_violations"), "other violations" + seed);
        assertEquals(0, summary.staleSegmentsAfterRestart, "dead-run segments left after a restart" + seed);
        assertEquals(0, summary.regionsAfterGc, "regions after the final :gc" + seed);
        assertEquals(0, summary.segmentsAfterGc, "segments in the node's stats after the final :gc" + seed);
        assertEquals(0, summary.leakedSegmentsAfterGc, "files in the shm dir after the final :gc" + seed);
        assertEquals(0, summary.leakedSegmentsAfterStop, "files in the shm dir after SIGTERM" + seed);
        assertEquals(0, summary.nodeExitStatus, "node exit status after SIGTERM" + seed);
        assertEquals(0, summary.strayProcesses, "soak processes left" + seed);
        assertTrue(summary.nodeKills >= 1 && summary.clientKills >= 1 && summary.pythonWorkerKills >= 1
                && summary.holderKills() >= 1, "every kind of kill happened" + seed);
        assertTrue(summary.counter("verifies_elixir") > 0 && summary.counter("verifies_python") > 0,
                "regions were verified from Elixir and Python" + seed);
    }

    // --- processes ------------------------------------------------------------------

    /** Soak processes (client BEAMs, Python workers: their command line has the tag) still running. */
    private List<ProcessHandle> strays() {
        return ProcessHandle.allProcesses().filter(handle -> handle.isAlive() && handle.info().commandLine()
                .map(command -> command.contains(tag)).orElse(false)).toList();
    }

    private List<ProcessHandle> awaitNoStrays() {
        long deadlineNs = System.nanoTime() + STOP_WAIT.toNanos();
        List<ProcessHandle> left = strays();
        while (!left.isEmpty() && System.nanoTime() < deadlineNs) {
            sleepMs(50);
            left = strays();
        }
        left.forEach(handle -> log("stray process " + handle.pid() + ": " + handle.info().commandLine().orElse("?")));
        return left;
    }

    /** Last resort on failure: harness.close() stops only descendants of what it started. */
    private void killStrays() {
        if (tag != null) {
            strays().forEach(ProcessHandle::destroyForcibly);
        }
    }

    private void awaitGone(List<ProcessHandle> processes, String what) {
        for (ProcessHandle handle : processes) {
            try {
                handle.onExit().get(STOP_WAIT.toMillis(), TimeUnit.MILLISECONDS);
            } catch (Exception e) {
                fail(what + " " + handle.pid() + " still running " + STOP_WAIT.toMillis() + " ms later: " + e);
            }
        }
    }

    // --- time ---------------------------------------------------------------------------

    private static long elapsedMs(long sinceNs) {
        return TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - sinceNs);
    }

    private void sleepUntil(long sinceNs, long atMs) {
        long leftMs;
        while ((leftMs = atMs - elapsedMs(sinceNs)) > 0) {
            sleepMs(Math.min(leftMs, 500));
            checkClients();
        }
    }

    private void sleepMs(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            fail(overBudget ? "the soak ran over its time budget (load + " + BUDGET.toSeconds() + " s)" : "interrupted");
        }
    }

    /** Interrupts this (the test's) thread once {@code limit} has passed. */
    private ScheduledExecutorService watchdog(Duration limit) {
        Thread testThread = Thread.currentThread();
        ScheduledExecutorService alarm = Executors.newSingleThreadScheduledExecutor(runnable -> {
            Thread thread = new Thread(runnable, "soak-watchdog");
            thread.setDaemon(true);
            return thread;
        });
        alarm.schedule(() -> {
            overBudget = true;
            log("over the time budget of " + limit.toSeconds() + " s: interrupting the test");
            testThread.interrupt();
        }, limit.toMillis(), TimeUnit.MILLISECONDS);
        return alarm;
    }

    private static void log(String message) {
        System.out.println("SoakIT: " + message);
    }

    private static String firstLine(String text) {
        return text == null ? "" : text.lines().findFirst().orElse("");
    }
}

package io.snakepit.shm.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/**
 * A whole BEAM node whose processes hold regions is killed with SIGKILL: the manager sees
 * {@code noconnection} for every linked holder, drops their references and deallocates the
 * regions after the grace period, logging each holder's death.
 */
class BeamNodeCrashIT extends E2eTest {
    private static final long GRACE_MS = 500;
    /** What "promptly" means on top of the grace period. */
    private static final long SLACK_MS = 1000;
    private static final Duration EXIT_WAIT = Duration.ofSeconds(10);
    private static final Pattern DROPPED = Pattern.compile(" is gone: dropped (\\d+) reference");

    @Test
    void regionsOfAKilledBeamNodeAreDeallocatedWithinOneSecondAfterGrace() {
        harness.startNode();
        ManagedProcess holders = harness.startElixir("beam_holders", Long.toString(GRACE_MS));
        holders.awaitLine(line -> line.equals("READY=1"), E2eHarness.SCRIPT_TIMEOUT, "READY=1");
        Map<String, String> held = ScriptResult.parse(holders.stdout());
        int count = Integer.parseInt(held.get("COUNT"));
        int holderCount = Integer.parseInt(held.get("HOLDERS"));
        String crashedNode = held.get("NODE_NAME");
        List<String> arguments = new ArrayList<>(List.of(Long.toString(GRACE_MS + 10_000)));
        for (int i = 0; i < count; i++) {
            arguments.add(held.get("ID_" + i));
        }
        ManagedProcess watcher = harness.startElixir("regions_gone", arguments.toArray(String[]::new));
        watcher.awaitLine(line -> line.equals("ARMED=1"), E2eHarness.SCRIPT_TIMEOUT, "ARMED=1");

        ProcessHandle beam = beamProcess(holders, Long.parseLong(held.get("BEAM_OS_PID")));
        List<ProcessHandle> children = beam.descendants().toList();
        long killedNs = System.nanoTime();
        beam.destroyForcibly();
        watcher.writeLine("killed");
        awaitExit(beam, "beam.smp");

        watcher.awaitLine(line -> line.startsWith("ALL_GONE_MS="), Duration.ofSeconds(30), "ALL_GONE_MS");
        long allGoneMs = Duration.ofNanos(System.nanoTime() - killedNs).toMillis();
        assertEquals(0, watcher.awaitExit(E2eHarness.SCRIPT_TIMEOUT), watcher.describeOutput());
        Map<String, String> seen = ScriptResult.parse(watcher.stdout());
        System.out.printf("BeamNodeCrashIT: %d regions of %d holder processes on %s gone %d ms after SIGKILL"
                + " (grace %d ms; watcher per region: %s)%n", count, holderCount, crashedNode, allGoneMs,
                GRACE_MS, elapsedPerRegion(seen, count));

        assertEquals(count, Long.parseLong(seen.get("PRESENT_AFTER_KILL")),
                "regions deallocated right after the kill, before the grace period of " + GRACE_MS + " ms");
        assertTrue(allGoneMs <= GRACE_MS + SLACK_MS, "the " + count + " regions were gone " + allGoneMs
                + " ms after the BEAM node was killed; expected <= grace " + GRACE_MS + " + " + SLACK_MS + " ms\n"
                + watcher.describeOutput());
        assertEquals(holderCount, Long.parseLong(seen.get("HOLDER_DEATHS_AFTER"))
                - Long.parseLong(seen.get("HOLDER_DEATHS_BEFORE")), "stats holder_deaths_total after the crash");
        assertEquals(0, Long.parseLong(seen.get("REGIONS_LEFT")), "regions left after the crash");
        for (ProcessHandle child : children) {
            awaitExit(child, "child of beam.smp " + child.info().command().orElse("?"));
        }

        String log = awaitHolderDeathLogs(crashedNode, holderCount);
        assertEquals(holderCount, holderDeathLines(log, crashedNode).size(),
                "the node logs one 'holder ... is gone' line per holder process of " + crashedNode + ":\n" + log);
        // Every region had one reference, the shared one a second: all were dropped.
        assertEquals(count + 1, droppedReferences(holderDeathLines(log, crashedNode)),
                "references dropped according to the node's log:\n" + log);
        assertTrue(harness.node().isAlive(), harness.node().describeOutput());
        assertEquals("ok", harness.runElixir("health").assertSucceeded().get("HEALTH"));
    }

    /**
     * The beam.smp process the scenario runs in. {@code elixir} is a shell script that
     * ends up exec'ing beam.smp (through erl and erlexec), so the pid the scenario reports
     * is the launched process itself or one of its descendants; checked either way.
     */
    private static ProcessHandle beamProcess(ManagedProcess launched, long reportedPid) {
        ProcessHandle launchedHandle = launched.process().toHandle();
        Optional<ProcessHandle> beam = reportedPid == launchedHandle.pid() ? Optional.of(launchedHandle)
                : launchedHandle.descendants().filter(handle -> handle.pid() == reportedPid).findFirst();
        if (beam.isEmpty()) {
            return fail("the scenario's BEAM (os pid " + reportedPid + ") is neither the launched process "
                    + launchedHandle.pid() + " nor one of its descendants");
        }
        String command = beam.get().info().command().orElse("");
        assertTrue(command.endsWith("beam.smp"), "os pid " + reportedPid + " runs '" + command
                + "', not beam.smp");
        return beam.get();
    }

    private static void awaitExit(ProcessHandle handle, String what) {
        try {
            handle.onExit().get(EXIT_WAIT.toMillis(), TimeUnit.MILLISECONDS);
        } catch (Exception e) {
            fail(what + " (os pid " + handle.pid() + ") still running " + EXIT_WAIT.toMillis()
                    + " ms after the SIGKILL: " + e);
        }
    }

    private static String elapsedPerRegion(Map<String, String> seen, int count) {
        List<String> values = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            values.add(seen.get("ELAPSED_MS_" + i) + " ms");
        }
        return String.join(", ", values);
    }

    private static List<String> holderDeathLines(String log, String crashedNode) {
        return log.lines().filter(line -> line.contains("holder #Pid<" + crashedNode + ".")
                && line.contains(" is gone: dropped ")).toList();
    }

    private static long droppedReferences(List<String> lines) {
        long dropped = 0;
        for (String line : lines) {
            Matcher matcher = DROPPED.matcher(line);
            if (!matcher.find()) {
                fail("no reference count in the log line: " + line);
            }
            dropped += Long.parseLong(matcher.group(1));
        }
        return dropped;
    }

    /** The node's stderr once it logged {@code expected} holder deaths, or after 5 s. */
    private String awaitHolderDeathLogs(String crashedNode, int expected) {
        long deadlineNs = System.nanoTime() + 5_000_000_000L;
        String log = harness.node().stderr();
        while (holderDeathLines(log, crashedNode).size() < expected && System.nanoTime() < deadlineNs) {
            try {
                Thread.sleep(20);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                break;
            }
            log = harness.node().stderr();
        }
        return log;
    }
}

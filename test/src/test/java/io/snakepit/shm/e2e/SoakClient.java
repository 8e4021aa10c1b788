package io.snakepit.shm.e2e;

import static org.junit.jupiter.api.Assertions.fail;

import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;

/**
 * One soak client: a BEAM running test/src/test/elixir/soak_client.exs (load lanes plus
 * Python worker slots whose workers are children of the BEAM). Reads its {@code STATS}
 * and {@code VIOLATION} lines; can be killed (SIGKILL of beam.smp) or stopped (a line on
 * stdin).
 */
final class SoakClient {
    static final String WORKER_SCRIPT = "soak_worker.py";
    static final int LANES = 3;
    static final int WORKERS = 2;
    private static final Duration START_TIMEOUT = Duration.ofSeconds(60);
    private static final Duration EXIT_TIMEOUT = Duration.ofSeconds(30);

    private final int index;
    private final ManagedProcess process;
    private final ProcessHandle beam;
    private boolean killed;

    private SoakClient(int index, ManagedProcess process, ProcessHandle beam) {
        this.index = index;
        this.process = process;
        this.beam = beam;
    }

    /**
     * Starts client {@code index} against the harness's node and waits until its lanes
     * run. {@code tag} goes on the command lines of the BEAM and its Python workers.
     */
    static SoakClient start(E2eHarness harness, int index, long seed, String tag) {
        String python = ProjectLayout.requireTool("python3", "install Python 3 with numpy (scripts/setup.sh)");
        Path script = harness.layout().root().resolve("test/src/test/python").resolve(WORKER_SCRIPT);
        ManagedProcess process = harness.startElixir("soak_client", Integer.toString(index), Long.toString(seed),
                Integer.toString(LANES), Integer.toString(WORKERS), python, script.toString(),
                harness.layout().pythonPath().toString(), tag);
        process.awaitLine(line -> line.equals("STARTED=1"), START_TIMEOUT, "STARTED=1 of soak client " + index);
        long beamPid = Long.parseLong(ScriptResult.parse(process.stdout()).get("BEAM_OS_PID"));
        return new SoakClient(index, process, beamProcess(process, beamPid));
    }

    int index() {
        return index;
    }

    ManagedProcess process() {
        return process;
    }

    boolean killed() {
        return killed;
    }

    /** Alive, or killed by the test: anything else is a crash. */
    boolean healthy() {
        return killed || process.isAlive();
    }

    /** The Python workers running now (children of the BEAM's port program). */
    List<ProcessHandle> pythonWorkers() {
        return beam.descendants().filter(handle -> handle.isAlive() && handle.info().commandLine()
                .map(command -> command.contains(WORKER_SCRIPT)).orElse(false)).toList();
    }

    /** SIGKILL of the BEAM; waits for it to be gone. */
    void kill() {
        killed = true;
        beam.destroyForcibly();
        try {
            beam.onExit().get(EXIT_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
        } catch (Exception e) {
            fail("soak client " + index + " (beam.smp " + beam.pid() + ") still running after SIGKILL: " + e);
        }
        process.awaitExit(EXIT_TIMEOUT);
    }

    /** Asks the client to stop (a line on stdin): lanes release what they hold and end. */
    void requestStop() {
        process.writeLine("stop");
    }

    /** Waits for the exit after {@link #requestStop()}; returns the exit status. */
    int awaitStop() {
        return process.awaitExit(EXIT_TIMEOUT);
    }

    /** Whether the client printed DONE=1 (it stopped in order). */
    boolean done() {
        return process.stdout().lines().anyMatch(line -> line.equals("DONE=1"));
    }

    /** The counters of its last STATS line (empty before the first one). */
    Map<String, Long> lastStats() {
        Map<String, Long> stats = new LinkedHashMap<>();
        Optional<String> last = process.stdout().lines().filter(line -> line.startsWith("STATS ")).reduce((a, b) -> b);
        last.ifPresent(line -> {
            for (String field : line.substring("STATS ".length()).split(" ")) {
                int equals = field.indexOf('=');
                if (equals > 0) {
                    stats.put(field.substring(0, equals), Long.parseLong(field.substring(equals + 1)));
                }
            }
        });
        return stats;
    }

    /** Its VIOLATION lines. */
    List<String> violations() {
        return process.stdout().lines().filter(line -> line.startsWith("VIOLATION ")).toList();
    }

    /** elixir exec's erl, which exec's beam.smp: the reported pid is the launched one or below it. */
    private static ProcessHandle beamProcess(ManagedProcess launched, long reportedPid) {
        ProcessHandle handle = launched.process().toHandle();
        Optional<ProcessHandle> beam = reportedPid == handle.pid() ? Optional.of(handle)
                : handle.descendants().filter(child -> child.pid() == reportedPid).findFirst();
        return beam.orElseGet(() -> fail("soak client BEAM os pid " + reportedPid
                + " is neither the launched process " + handle.pid() + " nor below it"));
    }

    @Override
    public String toString() {
        return "soak client " + index + " (" + process.label() + ", beam.smp " + beam.pid() + ")";
    }
}

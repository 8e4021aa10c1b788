package io.snakepit.shm.e2e;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The figures of one soak run, filled in by {@link SoakIT} as it goes, rendered as text
 * for the build log and test/target/soak-summary.txt (copied into docs/RELIABILITY.md).
 * Client counters are the sums of the last {@code STATS} line of every client, killed
 * ones included (a client killed with SIGKILL loses at most its last second).
 */
final class SoakSummary {
    final SoakSettings settings;
    long elapsedMs;
    int clientsStarted;
    int pythonWorkerKills;
    int pythonWorkerKillsSkipped;
    int nodeKills;
    int clientKills;
    int killsSkippedLate;
    int deadRunSegmentsReclaimed;
    /** Segments whose creation a node kill interrupted, reclaimed by a sweep after the creation grace. */
    int interruptedCreationsReclaimed;
    int staleSegmentsAfterRestart;
    final Map<String, Long> counters = new LinkedHashMap<>();
    final List<String> violations = new ArrayList<>();
    String health = "not checked";
    boolean healthOk;
    long regionsBeforeGc = -1;
    long regionsAfterGc = -1;
    long segmentsAfterGc = -1;
    int leakedSegmentsAfterGc = -1;
    int leakedSegmentsAfterStop = -1;
    int nodeExitStatus = -1;
    int strayProcesses = -1;
    String incomplete;

    SoakSummary(SoakSettings settings) {
        this.settings = settings;
    }

    /** Adds one client's last counters. */
    void addClient(Map<String, Long> stats) {
        stats.forEach((name, value) -> counters.merge(name, value,
                name.endsWith("_max") ? Math::max : Long::sum));
    }

    long counter(String name) {
        return counters.getOrDefault(name, 0L);
    }

    long holderKills() {
        return counter("holder_kills_shared") + counter("holder_kills_sole");
    }

    long leakedSegments() {
        return Math.max(0, leakedSegmentsAfterGc) + Math.max(0, leakedSegmentsAfterStop);
    }

    String render() {
        StringBuilder text = new StringBuilder();
        line(text, "# snakepit-shm soak (test/src/test/java/io/snakepit/shm/e2e/SoakIT.java)");
        if (incomplete != null) {
            line(text, "INCOMPLETE RUN: " + incomplete);
        }
        line(text, "seed: " + settings.seed() + "   (repeat with -Dsoak.seed=" + settings.seed()
                + "; -Dsoak.seed=random for a fresh one)");
        line(text, "load: " + settings.seconds() + " s (-Dsoak.seconds / SOAK_SECONDS), " + elapsedMs / 1000
                + " s wall clock for the whole test; " + clientsStarted + " Elixir client BEAMs started ("
                + SoakClient.LANES + " load lanes and " + SoakClient.WORKERS + " Python workers each), "
                + SoakIT.CLIENTS + " at a time");
        line(text, "");
        line(text, "operations");
        item(text, "allocations", counter("allocations"));
        item(text, "writes (Elixir :file.pwrite)", counter("writes_elixir"));
        item(text, "writes (Python mmap, pattern_fill)", counter("fills_python"));
        item(text, "verifications (Elixir :file.pread)", counter("verifies_elixir"));
        item(text, "verifications (Python mmap)", counter("verifies_python"));
        item(text, "liveness checks while held (info + region header)", counter("header_checks"));
        item(text, "releases", counter("releases"));
        item(text, "frees", counter("frees"));
        item(text, "acquires", counter("acquires"));
        item(text, "hand-overs to Python workers", counter("python_handoffs"));
        item(text, ":gc calls during the load", counter("gc_calls"));
        line(text, "");
        line(text, "kills survived");
        item(text, "BEAM holder processes", holderKills() + " (" + counter("holder_kills_shared")
                + " while another holder kept the region, " + counter("holder_kills_sole")
                + " as its only holder: region reclaimed, worst " + counter("holder_reclaim_ms_max") + " ms)");
        item(text, "Python workers (SIGKILL)", pythonWorkerKills);
        item(text, "node (SIGKILL, restart with the same name and shm dir)", nodeKills);
        item(text, "Elixir client BEAMs (SIGKILL)", clientKills);
        if (killsSkippedLate > 0 || pythonWorkerKillsSkipped > 0) {
            item(text, "planned kills skipped (plan running late / no worker running)", killsSkippedLate + " / "
                    + pythonWorkerKillsSkipped);
        }
        line(text, "");
        line(text, "expected losses (not violations)");
        item(text, "regions gone with a killed node", counter("lost_node_kill"));
        item(text, "regions gone with their killed only Python holder", counter("lost_worker_kill"));
        item(text, "Python operations cut short by a kill", counter("python_ops_interrupted"));
        item(text, "dead-run segments reclaimed by the restarted node", deadRunSegmentsReclaimed);
        item(text, "interrupted creations reclaimed by a later sweep", interruptedCreationsReclaimed);
        line(text, "");
        line(text, "invariants");
        item(text, "checksum mismatches", counter("checksum_mismatches"));
        item(text, "regions freed while held", counter("freed_while_held"));
        item(text, "other violations", counter("other_violations"));
        item(text, "dead-run segments left after a restart", staleSegmentsAfterRestart);
        item(text, "regions left after the clients stopped / after the final :gc", regionsBeforeGc + " / "
                + regionsAfterGc);
        item(text, "leaked segments", leakedSegments() + " (after the final :gc: " + leakedSegmentsAfterGc
                + ", after SIGTERM: " + leakedSegmentsAfterStop + ")");
        item(text, "node exit status after SIGTERM", nodeExitStatus);
        item(text, "stray processes", strayProcesses);
        item(text, "node health after the chaos", health);
        if (!violations.isEmpty()) {
            line(text, "");
            line(text, "violations (" + violations.size() + ")");
            violations.stream().limit(50).forEach(violation -> line(text, "  " + violation));
        }
        return text.toString();
    }

    /** Writes {@link #render()} to {@code file}; never throws. */
    void write(Path file) {
        try {
            Files.createDirectories(file.getParent());
            Files.writeString(file, render());
        } catch (IOException e) {
            System.err.println("cannot write " + file + ": " + e.getMessage());
        }
    }

    private static void item(StringBuilder text, String name, Object value) {
        line(text, "  " + name + ": " + value);
    }

    private static void line(StringBuilder text, String line) {
        text.append(line).append('\n');
    }
}

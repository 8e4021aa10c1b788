package io.snakepit.shm.e2e;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * An Elixir scenario that stays up and takes commands, one line each on its stdin; it
 * answers each with {@code KEY=VALUE} lines ending in {@code DONE=...}. One BEAM start
 * serves a whole test, and the test can act on the system (chmod a file, read through a
 * Python mapping) between two commands. A command the script fails on ends the script:
 * {@link #command} then fails the test with the script's output.
 */
final class DrivenScript {
    private static final Duration COMMAND_TIMEOUT = Duration.ofSeconds(60);

    private final ManagedProcess process;
    private final StringBuilder transcript = new StringBuilder();

    private DrivenScript(ManagedProcess process) {
        this.process = process;
    }

    /** Starts {@code scenario} (its first argument is the node name, then {@code arguments}). */
    static DrivenScript start(E2eHarness harness, String scenario, String... arguments) {
        return new DrivenScript(harness.startElixir(scenario, arguments));
    }

    ManagedProcess process() {
        return process;
    }

    /** Sends one command and returns the values the script printed for it. */
    Map<String, String> command(String line) {
        transcript.append("> ").append(line).append('\n');
        process.writeLine(line);
        List<String> lines = new ArrayList<>();
        process.awaitLine(l -> {
            lines.add(l);
            return l.startsWith("DONE=");
        }, COMMAND_TIMEOUT, "DONE= after the command '" + line + "'");
        lines.forEach(l -> transcript.append("  ").append(l).append('\n'));
        return ScriptResult.parse(String.join("\n", lines));
    }

    /** The commands sent so far and the script's answers, for assertion messages. */
    String transcript() {
        return "--- commands and answers:\n" + transcript + process.describeOutput();
    }
}

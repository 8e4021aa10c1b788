package io.snakepit.shm.e2e;

import static org.junit.jupiter.api.Assertions.fail;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;

/**
 * A real OS process started by a test, with its stdout read line by line and its stderr
 * captured. {@link #stop(Duration)} ends it and every descendant (SIGTERM, then SIGKILL).
 *
 * <p>Thread-safety: one test thread drives it; the reader threads only fill the buffers.
 */
final class ManagedProcess {
    private static final Duration EXIT_WAIT = Duration.ofSeconds(30);

    private final String label;
    private final List<String> command;
    private final Process process;
    private final BlockingQueue<String> unreadStdout = new LinkedBlockingQueue<>();
    private final StringBuffer stdout = new StringBuffer();
    private final StringBuffer stderr = new StringBuffer();
    private final Thread stdoutReader;
    private final Thread stderrReader;

    private ManagedProcess(String label, List<String> command, Process process) {
        this.label = label;
        this.command = List.copyOf(command);
        this.process = process;
        this.stdoutReader = pump(process.getInputStream(), stdout, unreadStdout, label + "-stdout");
        this.stderrReader = pump(process.getErrorStream(), stderr, null, label + "-stderr");
    }

    /** Starts {@code command}; {@code environment} entries are added to this JVM's. */
    static ManagedProcess start(String label, List<String> command, Map<String, String> environment,
            Path workingDir) {
        ProcessBuilder builder = new ProcessBuilder(command);
        builder.environment().putAll(environment);
        if (workingDir != null) {
            builder.directory(workingDir.toFile());
        }
        try {
            return new ManagedProcess(label, command, builder.start());
        } catch (IOException e) {
            return fail("cannot start " + label + " " + command + ": " + e.getMessage(), e);
        }
    }

    String label() {
        return label;
    }

    long pid() {
        return process.pid();
    }

    Process process() {
        return process;
    }

    boolean isAlive() {
        return process.isAlive();
    }

    /** Everything written on stdout so far. */
    String stdout() {
        return stdout.toString();
    }

    /** Everything written on stderr so far. */
    String stderr() {
        return stderr.toString();
    }

    /** The next unread stdout line matching {@code wanted}; fails the test on timeout or exit. */
    String awaitLine(Predicate<String> wanted, Duration timeout, String what) {
        long deadlineNs = System.nanoTime() + timeout.toNanos();
        while (true) {
            long leftNs = deadlineNs - System.nanoTime();
            String line;
            try {
                line = unreadStdout.poll(Math.max(leftNs, 0), TimeUnit.NANOSECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return fail("interrupted waiting for " + what);
            }
            if (line == null) {
                String state = process.isAlive() ? "still running" : "exited with " + process.exitValue();
                return fail(label + ": no " + what + " within " + timeout.toMillis() + " ms (" + state + ")\n"
                        + describeOutput());
            }
            if (line == EndOfStream.MARK) {
                unreadStdout.add(line); // keep it for later callers
                waitQuietly(Duration.ofSeconds(5));
                return fail(label + ": stdout closed before " + what + "\n" + describeOutput());
            }
            if (wanted.test(line)) {
                return line;
            }
        }
    }

    /** Writes one line to stdin. */
    void writeLine(String line) {
        try {
            OutputStream in = process.getOutputStream();
            in.write((line + "\n").getBytes(StandardCharsets.UTF_8));
            in.flush();
        } catch (IOException e) {
            fail(label + ": cannot write to stdin: " + e.getMessage() + "\n" + describeOutput(), e);
        }
    }

    /** Closes stdin (EOF for the process). */
    void closeStdin() {
        try {
            process.getOutputStream().close();
        } catch (IOException e) {
            // already closed or the process is gone: EOF either way
        }
    }

    /** Waits for the exit and the end of both output streams; fails the test on timeout. */
    int awaitExit(Duration timeout) {
        try {
            if (!process.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
                return fail(label + ": still running after " + timeout.toMillis() + " ms\n" + describeOutput());
            }
            stdoutReader.join(EXIT_WAIT.toMillis());
            stderrReader.join(EXIT_WAIT.toMillis());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return fail("interrupted waiting for " + label);
        }
        return process.exitValue();
    }

    /** Sends SIGTERM to this process only (not its descendants). */
    void terminate() {
        process.destroy();
    }

    /** Sends SIGKILL to this process only and waits for it to be gone. */
    void kill() {
        process.destroyForcibly();
        awaitExit(EXIT_WAIT);
    }

    /**
     * Ends the process and all its descendants: SIGTERM, up to {@code grace} to exit, then
     * SIGKILL. Descendants are collected before the parent dies (they are reparented after).
     * A shared epmd is left alone. Never throws.
     */
    void stop(Duration grace) {
        List<ProcessHandle> all = new ArrayList<>();
        try {
            process.descendants().filter(handle -> !isEpmd(handle)).forEach(all::add);
        } catch (RuntimeException e) {
            // process already gone: nothing to collect
        }
        all.add(process.toHandle());
        all.forEach(ProcessHandle::destroy);
        long deadlineNs = System.nanoTime() + grace.toNanos();
        for (ProcessHandle handle : all) {
            long leftMs = Math.max(0, TimeUnit.NANOSECONDS.toMillis(deadlineNs - System.nanoTime()));
            try {
                handle.onExit().get(leftMs, TimeUnit.MILLISECONDS);
            } catch (Exception e) {
                handle.destroyForcibly();
            }
        }
        for (ProcessHandle handle : all) {
            try {
                handle.onExit().get(10, TimeUnit.SECONDS);
            } catch (Exception e) {
                // reported by the leak check of scripts/test.sh
            }
        }
        try {
            stdoutReader.join(2000);
            stderrReader.join(2000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** Writes the command, exit status and both outputs to {@code file}. Never throws. */
    void saveLog(Path file) {
        try {
            Files.createDirectories(file.getParent());
            Files.writeString(file, describe(Integer.MAX_VALUE));
        } catch (IOException e) {
            System.err.println("cannot write " + file + ": " + e.getMessage());
        }
    }

    /** Command, state and outputs (the last 60 lines of each), for failure messages. */
    String describeOutput() {
        return describe(60);
    }

    private String describe(int maxLines) {
        String state = process.isAlive() ? "running" : "exit status " + process.exitValue();
        return "--- " + label + " (pid " + process.pid() + ", " + state + "): " + String.join(" ", command)
                + "\n--- stdout:\n" + tail(stdout.toString(), maxLines) + "--- stderr:\n"
                + tail(stderr.toString(), maxLines) + "--- end of " + label + "\n";
    }

    private static String tail(String text, int maxLines) {
        List<String> lines = text.lines().toList();
        if (lines.size() <= maxLines) {
            return text;
        }
        return "[... " + (lines.size() - maxLines) + " earlier lines in test/target/e2e-logs ...]\n"
                + String.join("\n", lines.subList(lines.size() - maxLines, lines.size())) + "\n";
    }

    private void waitQuietly(Duration timeout) {
        try {
            process.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS);
            stderrReader.join(timeout.toMillis());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private static boolean isEpmd(ProcessHandle handle) {
        Optional<String> command = handle.info().command();
        return command.isPresent() && command.get().endsWith("/epmd");
    }

    private static Thread pump(InputStream stream, StringBuffer sink, BlockingQueue<String> lines, String name) {
        Thread thread = new Thread(() -> {
            try (BufferedReader reader = new BufferedReader(new InputStreamReader(stream, StandardCharsets.UTF_8))) {
                String line;
                while ((line = reader.readLine()) != null) {
                    sink.append(line).append('\n');
                    if (lines != null) {
                        lines.add(line);
                    }
                }
            } catch (IOException e) {
                sink.append("[read error: ").append(e.getMessage()).append("]\n");
            } finally {
                if (lines != null) {
                    lines.add(EndOfStream.MARK);
                }
            }
        }, name);
        thread.setDaemon(true);
        thread.start();
        return thread;
    }

    /** The marker queued after the last stdout line (compared by identity). */
    private static final class EndOfStream {
        static final String MARK = String.valueOf(new char[] {'<', 'E', 'O', 'F', '>'});
    }
}

package io.snakepit.shm.e2e;

import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Memory figures of a running JVM (the node): its resident set from /proc, and the bytes
 * of its reachable Java objects, asked with the JDK's {@code jcmd}.
 */
final class JvmMemory {
    private static final Duration JCMD_TIMEOUT = Duration.ofSeconds(30);
    /** The last line of GC.class_histogram: "Total <instances> <bytes>". */
    private static final Pattern HISTOGRAM_TOTAL = Pattern.compile("^Total\\s+(\\d+)\\s+(\\d+)\\s*$");

    private JvmMemory() {}

    /** VmRSS of {@code pid} in KiB, from /proc/PID/status. */
    static long rssKib(long pid) {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/" + pid + "/status"))) {
                if (line.startsWith("VmRSS:")) {
                    return Long.parseLong(line.substring("VmRSS:".length()).replace("kB", "").trim());
                }
            }
            return fail("no VmRSS line in /proc/" + pid + "/status");
        } catch (IOException | NumberFormatException e) {
            return fail("cannot read the RSS of pid " + pid + ": " + e, e);
        }
    }

    /**
     * The bytes of the Java objects still reachable in JVM {@code pid}, in KiB: the total
     * of {@code jcmd PID GC.class_histogram}, which runs a full GC first and counts live
     * objects only (unlike the heap's "used", which includes garbage not collected yet).
     */
    static long liveHeapKib(long pid) {
        List<String> histogram = jcmd(pid, "GC.class_histogram");
        for (int i = histogram.size() - 1; i >= 0; i--) {
            Matcher matcher = HISTOGRAM_TOTAL.matcher(histogram.get(i));
            if (matcher.matches()) {
                return Long.parseLong(matcher.group(2)) / 1024;
            }
        }
        return fail("jcmd " + pid + " GC.class_histogram printed no Total line:\n"
                + String.join("\n", histogram.subList(Math.max(0, histogram.size() - 5), histogram.size())));
    }

    private static List<String> jcmd(long pid, String command) {
        String jcmd = ProjectLayout.requireTool("jcmd", "install a JDK 17 (openjdk-17-jdk-headless; scripts/setup.sh)");
        Path output = null;
        try {
            output = Files.createTempFile("snakepit-e2e-jcmd-", ".txt");
            Process process = new ProcessBuilder(jcmd, Long.toString(pid), command).redirectErrorStream(true)
                    .redirectOutput(output.toFile()).start();
            process.getOutputStream().close();
            if (!process.waitFor(JCMD_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS)) {
                process.destroyForcibly();
                return fail("jcmd " + pid + " " + command + " did not finish within " + JCMD_TIMEOUT.toMillis() + " ms");
            }
            String text = Files.readString(output, StandardCharsets.UTF_8);
            if (process.exitValue() != 0) {
                return fail("jcmd " + pid + " " + command + " exited with " + process.exitValue() + ":\n" + text);
            }
            return text.lines().toList();
        } catch (IOException e) {
            return fail("cannot run jcmd: " + e, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return fail("interrupted waiting for jcmd");
        } finally {
            if (output != null) {
                try {
                    Files.deleteIfExists(output);
                } catch (IOException e) {
                    System.err.println("cannot delete " + output + ": " + e.getMessage());
                }
            }
        }
    }
}

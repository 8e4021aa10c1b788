package io.snakepit.shm.e2e;

import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.SecureRandom;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.stream.Stream;

/**
 * One test's world of real processes: a snakepit-shm node started through its launcher
 * (unique name, random cookie in a 0600 file, its own shm dir under /dev/shm), Elixir
 * scenario scripts, Python workers and helper processes. {@link #close()} always stops
 * every one of them (and their descendants) and deletes the shm dir and the cookie.
 */
final class E2eHarness implements AutoCloseable {
    static final Duration READY_TIMEOUT = Duration.ofSeconds(30);
    static final Duration SCRIPT_TIMEOUT = Duration.ofSeconds(60);
    static final Duration STOP_GRACE = Duration.ofSeconds(10);
    private static final SecureRandom RANDOM = new SecureRandom();
    private static final Path SHM_ROOT = Path.of("/dev/shm");
    /** Harnesses not closed yet; a JVM shutdown (Ctrl-C, a build timeout) closes them. */
    private static final Set<E2eHarness> OPEN = ConcurrentHashMap.newKeySet();

    static {
        Runtime.getRuntime().addShutdownHook(new Thread(() -> OPEN.forEach(E2eHarness::close),
                "e2e-harness-cleanup"));
    }

    private final ProjectLayout layout;
    private final String testName;
    private final String runId;
    private final String cookie;
    private final Path secretsDir;
    private final Path cookieFile;
    private final Path shmDir;
    private final Path logDir;
    private final List<ManagedProcess> started = new ArrayList<>();
    private int nameCounter;
    private ManagedProcess node;
    private String nodeName;

    private E2eHarness(ProjectLayout layout, String testName) throws IOException {
        this.layout = layout;
        this.testName = testName;
        this.runId = randomHex(8);
        this.cookie = randomHex(20).toUpperCase();
        this.logDir = layout.logDir(testName);
        deleteTree(logDir);
        Files.createDirectories(logDir);
        this.secretsDir = Files.createTempDirectory("snakepit-e2e-",
                PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
        this.cookieFile = secretsDir.resolve("cookie");
        Files.createFile(cookieFile, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")));
        Files.writeString(cookieFile, cookie);
        this.shmDir = Files.createDirectory(SHM_ROOT.resolve("snktest-e2e-" + runId),
                PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
        OPEN.add(this);
    }

    /** A fresh harness for the named test (the name also names its log directory). */
    static E2eHarness create(String testName) {
        try {
            return new E2eHarness(ProjectLayout.detect(), testName);
        } catch (IOException e) {
            return fail("cannot prepare the test's cookie file or shm dir: " + e.getMessage(), e);
        }
    }

    ProjectLayout layout() {
        return layout;
    }

    /** The test's own shm dir, /dev/shm/snktest-e2e-RANDOM (mode 0700). */
    Path shmDir() {
        return shmDir;
    }

    Path cookieFile() {
        return cookieFile;
    }

    /** A node/process name unique to this test run: PREFIX_RANDOM_N. */
    String uniqueName(String prefix) {
        return prefix + "_" + runId + "_" + (++nameCounter);
    }

    /** Runs the launcher with raw arguments (no waiting); the process is stopped by close(). */
    ManagedProcess startLauncher(String label, List<String> arguments) {
        List<String> command = new ArrayList<>();
        command.add(layout.launcher().toString());
        command.addAll(arguments);
        return track(ManagedProcess.start(label, command, Map.of(), logDir));
    }

    /**
     * Starts the node: {@code node --name UNIQUE --cookie-file F --shm-dir DIR
     * --exit-on-stdin-eof EXTRA...}, and waits for {@code ready <node>}. Returns the full
     * node name.
     */
    String startNode(String... extraArguments) {
        if (node != null) {
            fail("this harness already started a node");
        }
        return launchNode(uniqueName("snk_e2e"), extraArguments);
    }

    /**
     * Starts the node again under the same name and shm dir, after the first one died
     * (killed, or stopped). Returns the full node name.
     */
    String restartNode(String... extraArguments) {
        if (node == null || node.isAlive()) {
            fail("restartNode needs a node that was started and is dead");
        }
        return launchNode(nodeName.substring(0, nodeName.indexOf('@')), extraArguments);
    }

    private String launchNode(String shortName, String... extraArguments) {
        List<String> arguments = new ArrayList<>(List.of("node", "--name", shortName,
                "--cookie-file", cookieFile.toString(), "--shm-dir", shmDir.toString(), "--exit-on-stdin-eof"));
        arguments.addAll(List.of(extraArguments));
        node = startLauncher("node", arguments);
        String ready = node.awaitLine(line -> line.startsWith("ready "), READY_TIMEOUT, "'ready <node>' line");
        nodeName = ready.substring("ready ".length()).trim();
        if (!nodeName.contains("@")) {
            fail("ready line names no full node name: '" + ready + "'");
        }
        return nodeName;
    }

    /** The node process started by {@link #startNode}. */
    ManagedProcess node() {
        if (node == null) {
            fail("no node started");
        }
        return node;
    }

    String nodeName() {
        node();
        return nodeName;
    }

    /** Runs an Elixir scenario against the node to its end; the node name is its first argument. */
    ScriptResult runElixir(String scenario, String... arguments) {
        ManagedProcess script = startElixir(scenario, arguments);
        script.closeStdin();
        int status = script.awaitExit(SCRIPT_TIMEOUT);
        return new ScriptResult(status, script.stdout(), script.describeOutput());
    }

    /** Starts an Elixir scenario (stdin stays open for go-ahead lines). */
    ManagedProcess startElixir(String scenario, String... arguments) {
        String elixir = ProjectLayout.requireTool("elixir", "install Debian's elixir package (scripts/setup.sh)");
        List<String> command = new ArrayList<>(List.of(elixir, "--sname", uniqueName("e2e_ex"), "--cookie", cookie,
                layout.elixirScenario(scenario).toString(), nodeName()));
        command.addAll(List.of(arguments));
        return track(ManagedProcess.start("elixir-" + scenario + "-" + nameCounter, command, Map.of(), logDir));
    }

    /** Starts {@code python3 -u -m snakepit_shm.worker} with PYTHONPATH=python_demo. */
    PythonWorker startPythonWorker() {
        String python = ProjectLayout.requireTool("python3", "install Python 3 with numpy (scripts/setup.sh)");
        ManagedProcess worker = track(ManagedProcess.start("python-worker-" + (++nameCounter),
                List.of(python, "-u", "-m", "snakepit_shm.worker"),
                Map.of("PYTHONPATH", layout.pythonPath().toString()), logDir));
        return new PythonWorker(worker);
    }

    /**
     * Starts a plain long-lived OS process to serve as an os_pid holder: {@code cat}, which
     * lives until its stdin (a pipe from this JVM) closes, so it cannot outlive the tests.
     */
    ManagedProcess startIdleProcess() {
        String cat = ProjectLayout.requireTool("cat", "install coreutils");
        return track(ManagedProcess.start("idle-holder-" + (++nameCounter), List.of(cat), Map.of(), logDir));
    }

    /** Names of the entries now in the test's shm dir. */
    List<String> shmEntries() {
        if (!Files.isDirectory(shmDir)) {
            return List.of();
        }
        try (Stream<Path> entries = Files.list(shmDir)) {
            return entries.map(path -> path.getFileName().toString()).sorted().toList();
        } catch (IOException e) {
            return fail("cannot list " + shmDir + ": " + e.getMessage(), e);
        }
    }

    /**
     * Stops every started process (newest first; SIGTERM, then SIGKILL after
     * {@link #STOP_GRACE}), saves their logs under test/target/e2e-logs/TEST, deletes the shm
     * dir and the cookie. Never throws.
     */
    @Override
    public synchronized void close() {
        OPEN.remove(this);
        for (int i = started.size() - 1; i >= 0; i--) {
            ManagedProcess process = started.get(i);
            try {
                process.stop(STOP_GRACE);
            } finally {
                process.saveLog(logDir.resolve(process.label() + ".log"));
            }
        }
        started.clear();
        deleteTree(shmDir);
        deleteTree(secretsDir);
    }

    private synchronized ManagedProcess track(ManagedProcess process) {
        started.add(process);
        return process;
    }

    private static void deleteTree(Path root) {
        if (!Files.exists(root)) {
            return;
        }
        try (Stream<Path> paths = Files.walk(root)) {
            paths.sorted(Comparator.reverseOrder()).forEach(path -> {
                try {
                    Files.deleteIfExists(path);
                } catch (IOException e) {
                    System.err.println("cannot delete " + path + ": " + e.getMessage());
                }
            });
        } catch (IOException e) {
            System.err.println("cannot delete " + root + ": " + e.getMessage());
        }
    }

    private static String randomHex(int bytes) {
        byte[] random = new byte[bytes];
        RANDOM.nextBytes(random);
        return HexFormat.of().formatHex(random);
    }

    @Override
    public String toString() {
        return "E2eHarness[" + testName + ", node " + nodeName + ", shm dir " + shmDir + "]";
    }
}

package io.snakepit.shm.e2e;

import static org.junit.jupiter.api.Assertions.fail;

import java.io.File;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Where the end-to-end tests find the project's pieces and the machine's tools.
 *
 * <p>The repository root comes from the system property {@code snakepit.root} (set by the
 * Failsafe configuration in test/pom.xml), else from the working directory. Missing tools
 * fail the test with a remediation; they are never a reason to skip.
 */
final class ProjectLayout {
    private final Path root;

    private ProjectLayout(Path root) {
        this.root = root;
    }

    /** The layout of the repository this test runs in. */
    static ProjectLayout detect() {
        String configured = System.getProperty("snakepit.root");
        Path root = configured != null ? Path.of(configured) : Path.of("").toAbsolutePath().getParent();
        root = root.toAbsolutePath().normalize();
        if (!Files.isRegularFile(root.resolve("pom.xml")) || !Files.isDirectory(root.resolve("java_node"))) {
            fail("cannot find the snakepit-shm repository root (tried " + root
                    + "); run the tests through Maven from the repository (scripts/test.sh)");
        }
        return new ProjectLayout(root);
    }

    Path root() {
        return root;
    }

    /** java_node/bin/snakepit-shm, after checking the node jar it runs has been built. */
    Path launcher() {
        Path launcher = root.resolve("java_node/bin/snakepit-shm");
        if (!Files.isExecutable(launcher)) {
            fail("launcher missing or not executable: " + launcher);
        }
        Path jar = root.resolve("java_node/target/snakepit-shm-node.jar");
        if (!Files.isRegularFile(jar)) {
            fail("node jar not built: " + jar + "; run scripts/build.sh first");
        }
        return launcher;
    }

    /** An Elixir scenario script under test/src/test/elixir. */
    Path elixirScenario(String name) {
        Path script = root.resolve("test/src/test/elixir").resolve(name + ".exs");
        if (!Files.isRegularFile(script)) {
            fail("Elixir scenario missing: " + script);
        }
        return script;
    }

    /** The directory to put on PYTHONPATH for the snakepit_shm package. */
    Path pythonPath() {
        Path dir = root.resolve("python_demo");
        if (!Files.isRegularFile(dir.resolve("snakepit_shm/worker.py"))) {
            fail("Python worker missing: " + dir.resolve("snakepit_shm/worker.py"));
        }
        return dir;
    }

    /** Where a test's process logs are kept: test/target/e2e-logs/NAME. */
    Path logDir(String testName) {
        return root.resolve("test/target/e2e-logs").resolve(testName);
    }

    /** The absolute path of an executable on PATH; fails the test if absent. */
    static String requireTool(String name, String remediation) {
        String path = System.getenv().getOrDefault("PATH", "");
        for (String dir : path.split(File.pathSeparator)) {
            if (dir.isEmpty()) {
                continue;
            }
            Path candidate = Path.of(dir, name);
            if (Files.isExecutable(candidate) && !Files.isDirectory(candidate)) {
                return candidate.toString();
            }
        }
        return fail("'" + name + "' is not on PATH (" + path + "); " + remediation);
    }
}

package io.snakepit.shm.bench;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.util.stream.Stream;

/**
 * A fresh directory {@code /dev/shm/snkbench-jmh-<random>} for one benchmark trial,
 * removed with everything in it by {@link #close()}, or by a JVM shutdown hook if the
 * trial dies before it gets there (an exception in setup, Ctrl-C, a killed fork still
 * runs hooks on SIGTERM).
 *
 * <p>Thread-safety: {@link #close()} may race with the hook; both only delete, and
 * deleting twice is harmless.
 */
public final class ShmBenchDir implements AutoCloseable {
  /** Where benchmark directories go; every name starts with {@code snkbench-jmh-}. */
  public static final Path SHM_ROOT = Path.of("/dev/shm");

  private final Path dir;
  private final Thread hook;

  private ShmBenchDir(Path dir) {
    this.dir = dir;
    this.hook = new Thread(() -> deleteTree(dir), "snkbench-cleanup");
  }

  /** Creates the directory and registers its removal at JVM exit. */
  public static ShmBenchDir create() {
    Path dir = SHM_ROOT.resolve("snkbench-jmh-" + Long.toHexString(new SecureRandom().nextLong()));
    try {
      Files.createDirectory(dir);
    } catch (IOException e) {
      throw new UncheckedIOException("creating " + dir + " (is /dev/shm mounted and writable?)", e);
    }
    ShmBenchDir d = new ShmBenchDir(dir);
    Runtime.getRuntime().addShutdownHook(d.hook);
    return d;
  }

  public Path path() {
    return dir;
  }

  /** Deletes the directory and its files; drops the shutdown hook. */
  @Override
  public void close() {
    try {
      Runtime.getRuntime().removeShutdownHook(hook);
    } catch (IllegalStateException shuttingDown) {
      // the hook is running or about to: it deletes the same files
    }
    deleteTree(dir);
  }

  private static void deleteTree(Path dir) {
    if (!Files.exists(dir)) {
      return;
    }
    try (Stream<Path> files = Files.list(dir)) {
      for (Path p : (Iterable<Path>) files::iterator) {
        Files.deleteIfExists(p);
      }
      Files.deleteIfExists(dir);
    } catch (IOException e) {
      System.err.println("snkbench: could not remove " + dir + ": " + e.getMessage()
          + " (remove it by hand: rm -rf " + dir + ")");
    }
  }
}

package io.snakepit.shm.registry;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.util.stream.Stream;

/** A fresh directory under /dev/shm for one test, removed with everything in it. */
final class ShmDirFixture implements AutoCloseable {
  final Path dir;

  ShmDirFixture(String tag) throws IOException {
    dir = Path.of("/dev/shm", "snktest-" + tag + "-" + Long.toHexString(new SecureRandom().nextLong()));
    Files.createDirectory(dir);
  }

  /** Files in the directory now. */
  long fileCount() throws IOException {
    try (Stream<Path> s = Files.list(dir)) {
      return s.count();
    }
  }

  @Override
  public void close() throws IOException {
    if (!Files.exists(dir)) {
      return;
    }
    try (Stream<Path> s = Files.list(dir)) {
      for (Path p : (Iterable<Path>) s::iterator) {
        Files.deleteIfExists(p);
      }
    }
    Files.deleteIfExists(dir);
  }
}

package io.snakepit.shm.platform;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.util.ArrayDeque;
import java.util.Comparator;
import java.util.Deque;
import java.util.HexFormat;
import java.util.stream.Stream;

/**
 * A private directory under the real /dev/shm for one test, plus the descriptors and
 * mappings the test opened there. {@link #close()} unmaps, closes and deletes all of it,
 * whatever state the test left.
 */
final class ShmTestDir implements AutoCloseable {
  private static final Path DEV_SHM = Path.of("/dev/shm");
  private static final SecureRandom RANDOM = new SecureRandom();

  final SharedMemoryPlatform platform;
  final Path dir;
  private final Deque<Integer> fds = new ArrayDeque<>();
  private final Deque<Mapping> mappings = new ArrayDeque<>();

  ShmTestDir(SharedMemoryPlatform platform) throws IOException {
    this(platform, DEV_SHM);
  }

  /** A fresh directory {@code snktest-<random>} under {@code parent}. */
  ShmTestDir(SharedMemoryPlatform platform, Path parent) throws IOException {
    byte[] suffix = new byte[8];
    RANDOM.nextBytes(suffix);
    this.platform = platform;
    this.dir = Files.createDirectory(parent.resolve("snktest-" + HexFormat.of().formatHex(suffix)));
  }

  /** createExclusive with mode 0600, remembered for cleanup. */
  int create(String fileName) {
    return track(platform.createExclusive(dir, fileName, 0600));
  }

  int open(String fileName, boolean readWrite) {
    return track(platform.openExisting(dir, fileName, readWrite));
  }

  int track(int fd) {
    fds.push(fd);
    return fd;
  }

  Mapping map(int fd, long offsetBytes, long lengthBytes, boolean writable, String name) {
    Mapping mapping = platform.map(fd, offsetBytes, lengthBytes, writable, name);
    mappings.push(mapping);
    return mapping;
  }

  /** Closes a descriptor this helper tracks, so cleanup does not close it twice. */
  void closeFd(int fd) {
    fds.remove(fd);
    platform.close(fd);
  }

  Path path(String fileName) {
    return dir.resolve(fileName);
  }

  @Override
  public void close() throws IOException {
    try {
      while (!mappings.isEmpty()) {
        platform.unmap(mappings.pop());
      }
    } finally {
      try {
        while (!fds.isEmpty()) {
          platform.close(fds.pop());
        }
      } finally {
        deleteTree(dir);
      }
    }
  }

  /** Deletes a directory and everything in it; symlinks are deleted, never followed. */
  static void deleteTree(Path root) throws IOException {
    if (!Files.exists(root, java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
      return;
    }
    try (Stream<Path> paths = Files.walk(root)) {
      for (Path p : paths.sorted(Comparator.reverseOrder()).toList()) {
        Files.deleteIfExists(p);
      }
    }
  }
}

package io.snakepit.shm.platform;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Small positive ints standing for native objects that are not file descriptors, so that
 * a platform without descriptors (Windows: section HANDLEs, or a name not yet created)
 * can honour the {@code int fd} of {@link SharedMemoryPlatform}. Numbers count up from
 * {@link #FIRST} and wrap around after {@link Integer#MAX_VALUE}, skipping those in use, so
 * a closed number is handed out again only after about two billion others (until then a
 * stale number fails with EBADF instead of reaching another object), and a long-running
 * node never runs out.
 *
 * <p>Thread-safety: safe for concurrent use.
 *
 * @param <E> what a number stands for
 */
final class DescriptorTable<E> {
  /** The first number handed out; 0 to 2 are avoided so they are never mistaken for stdio. */
  static final int FIRST = 3;
  /** errno for an unknown descriptor (EBADF, the same on Linux and macOS). */
  static final int EBADF = 9;

  private final Map<Integer, E> entries = new ConcurrentHashMap<>();
  private final AtomicInteger next = new AtomicInteger(FIRST);

  /**
   * Adds an entry and returns its number: the next one not in use.
   *
   * @throws IllegalStateException when every number is in use
   */
  int add(E entry) {
    for (long tries = 0; tries <= (long) Integer.MAX_VALUE - FIRST; tries++) {
      int fd = next.getAndUpdate(n -> n == Integer.MAX_VALUE ? FIRST : n + 1);
      if (entries.putIfAbsent(fd, entry) == null) {
        return fd;
      }
    }
    throw new IllegalStateException("every descriptor number is in use");
  }

  /** Makes the next number handed out {@code fd} (tests of the wrap-around). */
  void setNextForTest(int fd) {
    next.set(fd);
  }

  /**
   * The entry of {@code fd}.
   *
   * @throws PlatformException (EBADF) when there is none (never added, or removed)
   */
  E get(int fd, String call) {
    E e = entries.get(fd);
    if (e == null) {
      throw new PlatformException(call, "fd " + fd, EBADF, "Bad file descriptor (not open in this platform)");
    }
    return e;
  }

  /** Removes and returns the entry of {@code fd}, or null when there is none. */
  E remove(int fd) {
    return entries.remove(fd);
  }

  /** The numbers in use, in no particular order (a snapshot). */
  List<Integer> descriptors() {
    return new ArrayList<>(entries.keySet());
  }

  int size() {
    return entries.size();
  }
}

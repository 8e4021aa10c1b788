package io.snakepit.shm.platform;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;

/**
 * Byte-range locks kept in this process, for platforms whose kernel cannot lock a
 * shared-memory object: macOS (fcntl F_SETLK on a POSIX shm descriptor fails with EBADF,
 * xnu {@code fcntl_nocancel} accepts only vnodes) and Windows (LockFileEx needs a file
 * handle, not a section). Each lock belongs to one descriptor, like an open file
 * description lock: a descriptor's locks conflict with other descriptors' locks on the
 * same object, a descriptor may re-lock its own range (changing its type), and closing the
 * descriptor drops its locks ({@link #releaseAll}). Locks of other processes are invisible:
 * they cannot be taken on these platforms at all.
 *
 * <p>Ranges are {@code [offset, offset + length)}; a length of 0 means "to the end of
 * the object, however large", as in fcntl(2).
 *
 * <p>Thread-safety: every method is synchronized; safe from any thread.
 */
final class ProcessLocalLocks {
  private record Lock(int owner, long start, long end, boolean exclusive) {
    boolean overlaps(long s, long e) {
      return start < e && s < end;
    }
  }

  private final Map<String, List<Lock>> byObject = new HashMap<>();

  /**
   * Takes a lock on {@code [offset, offset + length)} of {@code object} for
   * {@code owner}, or returns false when another owner holds a conflicting one (an
   * exclusive lock conflicts with every lock, a shared one with exclusive locks).
   */
  synchronized boolean tryLock(String object, int owner, long offset, long length, boolean exclusive) {
    long end = end(offset, length);
    List<Lock> locks = byObject.computeIfAbsent(object, k -> new ArrayList<>());
    for (Lock l : locks) {
      if (l.owner != owner && l.overlaps(offset, end) && (exclusive || l.exclusive)) {
        return false;
      }
    }
    remove(locks, owner, offset, end);
    locks.add(new Lock(owner, offset, end, exclusive));
    return true;
  }

  /** Drops {@code owner}'s locks on {@code [offset, offset + length)}; parts outside stay locked. */
  synchronized void unlock(String object, int owner, long offset, long length) {
    long end = end(offset, length);
    List<Lock> locks = byObject.get(object);
    if (locks != null) {
      remove(locks, owner, offset, end);
      if (locks.isEmpty()) {
        byObject.remove(object);
      }
    }
  }

  /** True when an owner other than {@code owner} holds an exclusive lock overlapping the range. */
  synchronized boolean isWriteLockedByOtherOwner(String object, int owner, long offset, long length) {
    long end = end(offset, length);
    for (Lock l : byObject.getOrDefault(object, List.of())) {
      if (l.owner != owner && l.exclusive && l.overlaps(offset, end)) {
        return true;
      }
    }
    return false;
  }

  /** Drops every lock of {@code owner} on every object (its descriptor was closed). */
  synchronized void releaseAll(int owner) {
    for (Iterator<List<Lock>> it = byObject.values().iterator(); it.hasNext(); ) {
      List<Lock> locks = it.next();
      locks.removeIf(l -> l.owner == owner);
      if (locks.isEmpty()) {
        it.remove();
      }
    }
  }

  /** Number of lock records held, for tests. */
  synchronized int size() {
    return byObject.values().stream().mapToInt(List::size).sum();
  }

  /** Removes {@code owner}'s part of {@code [start, end)}, splitting locks that stick out on either side. */
  private static void remove(List<Lock> locks, int owner, long start, long end) {
    List<Lock> keep = new ArrayList<>();
    for (Iterator<Lock> it = locks.iterator(); it.hasNext(); ) {
      Lock l = it.next();
      if (l.owner != owner || !l.overlaps(start, end)) {
        continue;
      }
      it.remove();
      if (l.start < start) {
        keep.add(new Lock(owner, l.start, start, l.exclusive));
      }
      if (end < l.end) {
        keep.add(new Lock(owner, end, l.end, l.exclusive));
      }
    }
    locks.addAll(keep);
  }

  private static long end(long offset, long length) {
    if (offset < 0 || length < 0) {
      throw new IllegalArgumentException("lock offset and length must not be negative, were " + offset + " and "
          + length);
    }
    if (length == 0 || length > Long.MAX_VALUE - offset) {
      return Long.MAX_VALUE;
    }
    return offset + length;
  }
}

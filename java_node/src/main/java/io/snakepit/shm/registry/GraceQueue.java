package io.snakepit.shm.registry;

/**
 * Regions waiting out their grace period, ordered by deadline. With one grace period for
 * all, deadlines arrive in order, so this is a ring buffer (no allocation per entry);
 * after {@code grace_ms} is lowered, an earlier deadline is inserted in order from the
 * tail. An entry is stale (skipped) when its region was acquired again or rescheduled
 * since: the caller compares the region's deadline with the entry's.
 * Owned by the registry's owner thread.
 */
final class GraceQueue {
  private long[] deadlines = new long[1024];
  private Region[] regions = new Region[1024];
  private int head;
  private int size;

  boolean isEmpty() {
    return size == 0;
  }

  /** The earliest deadline; only when not empty. */
  long headDeadline() {
    return deadlines[head];
  }

  /** The region of the earliest entry; only when not empty. */
  Region headRegion() {
    return regions[head];
  }

  void pop() {
    regions[head] = null;
    head = (head + 1) & (regions.length - 1);
    size--;
  }

  void add(long deadlineMs, Region r) {
    if (size == regions.length) {
      grow();
    }
    int mask = regions.length - 1;
    int i = (head + size) & mask;
    // keep order: shift later deadlines one place towards the tail (rare: grace lowered)
    while (i != head && deadlines[(i - 1) & mask] > deadlineMs) {
      int prev = (i - 1) & mask;
      deadlines[i] = deadlines[prev];
      regions[i] = regions[prev];
      i = prev;
    }
    deadlines[i] = deadlineMs;
    regions[i] = r;
    size++;
  }

  void clear() {
    java.util.Arrays.fill(regions, null);
    head = 0;
    size = 0;
  }

  private void grow() {
    int n = regions.length;
    long[] d = new long[n * 2];
    Region[] r = new Region[n * 2];
    for (int k = 0; k < size; k++) {
      d[k] = deadlines[(head + k) & (n - 1)];
      r[k] = regions[(head + k) & (n - 1)];
    }
    deadlines = d;
    regions = r;
    head = 0;
  }
}

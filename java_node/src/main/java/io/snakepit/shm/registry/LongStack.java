package io.snakepit.shm.registry;

import java.util.Arrays;

/** A growable stack of primitive longs (no boxing). Not thread-safe. */
final class LongStack {
  private long[] items = new long[8];
  private int size;

  void push(long v) {
    if (size == items.length) {
      items = Arrays.copyOf(items, size * 2);
    }
    items[size++] = v;
  }

  long pop() {
    return items[--size];
  }

  boolean isEmpty() {
    return size == 0;
  }

  int size() {
    return size;
  }

  void clear() {
    size = 0;
    if (items.length > 1024) {
      items = new long[8];
    }
  }
}

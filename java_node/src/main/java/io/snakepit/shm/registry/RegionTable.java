package io.snakepit.shm.registry;

import java.util.ArrayList;
import java.util.List;

/**
 * Regions by id: an open-addressing hash table with primitive long keys (no boxing, one
 * array probe in the common case), linear probing and backward-shift deletion.
 * Owned by the registry's owner thread.
 */
final class RegionTable {
  private static final int MIN_CAPACITY = 1024;
  private long[] keys;
  private Region[] values;
  private int mask;
  private int size;

  RegionTable() {
    allocate(MIN_CAPACITY);
  }

  private void allocate(int capacity) {
    keys = new long[capacity];
    values = new Region[capacity];
    mask = capacity - 1;
  }

  private static int hash(long key) {
    key ^= key >>> 33;
    key *= 0xff51afd7ed558ccdL;
    key ^= key >>> 33;
    return (int) key;
  }

  int size() {
    return size;
  }

  Region get(long key) {
    for (int i = hash(key) & mask; ; i = (i + 1) & mask) {
      Region v = values[i];
      if (v == null) {
        return null;
      }
      if (keys[i] == key) {
        return v;
      }
    }
  }

  void put(long key, Region value) {
    if ((size + 1) * 2 > keys.length) {
      grow();
    }
    for (int i = hash(key) & mask; ; i = (i + 1) & mask) {
      if (values[i] == null) {
        keys[i] = key;
        values[i] = value;
        size++;
        return;
      }
      if (keys[i] == key) {
        values[i] = value;
        return;
      }
    }
  }

  void remove(long key) {
    int i = hash(key) & mask;
    while (values[i] != null && keys[i] != key) {
      i = (i + 1) & mask;
    }
    if (values[i] == null) {
      return;
    }
    values[i] = null;
    size--;
    // shift back the entries of the probe run that follows, so lookups need no tombstones
    for (int j = (i + 1) & mask; values[j] != null; j = (j + 1) & mask) {
      int home = hash(keys[j]) & mask;
      boolean movable = i <= j ? (home <= i || home > j) : (home <= i && home > j);
      if (movable) {
        keys[i] = keys[j];
        values[i] = values[j];
        values[j] = null;
        i = j;
      }
    }
  }

  /** A snapshot of all regions, in no particular order. */
  List<Region> values() {
    List<Region> out = new ArrayList<>(size);
    for (Region v : values) {
      if (v != null) {
        out.add(v);
      }
    }
    return out;
  }

  private void grow() {
    long[] oldKeys = keys;
    Region[] oldValues = values;
    allocate(keys.length * 2);
    size = 0;
    for (int i = 0; i < oldKeys.length; i++) {
      if (oldValues[i] != null) {
        put(oldKeys[i], oldValues[i]);
      }
    }
  }
}

package io.snakepit.shm.registry;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Regions by id, as a slot map: a region id carries its slot in its low
 * {@link #SLOT_BITS} bits (above them a sequence number unique in the run), so a lookup is
 * one array read and a check of the whole id. Freed slots are reused last-in first-out,
 * so the slots a busy caller touches stay in cache however many regions are live.
 * Owned by the registry's owner thread.
 */
final class RegionTable {
  /** Bits of an id that name its slot: at most 2^24 (16,777,216) live regions. */
  static final int SLOT_BITS = 24;
  static final int MAX_SLOTS = 1 << SLOT_BITS;
  private static final long SLOT_MASK = MAX_SLOTS - 1;

  private Region[] slots = new Region[1024];
  private int[] freeSlots = new int[64];
  private int freeCount;
  private int nextUnused;
  private int size;

  /** The id of the region in {@code slot} with sequence number {@code seq}. */
  static long id(long seq, int slot) {
    return (seq << SLOT_BITS) | slot;
  }

  int size() {
    return size;
  }

  /** Takes a free slot for a region about to be made; give it back with {@link #unclaim} if that fails. */
  int claim() {
    if (freeCount > 0) {
      return freeSlots[--freeCount];
    }
    if (nextUnused == MAX_SLOTS) {
      throw new IllegalStateException("all " + MAX_SLOTS + " region slots are in use");
    }
    if (nextUnused == slots.length) {
      slots = Arrays.copyOf(slots, Math.min(MAX_SLOTS, slots.length * 2));
    }
    return nextUnused++;
  }

  /** Returns a claimed slot that got no region. */
  void unclaim(int slot) {
    pushFree(slot);
  }

  /** Stores a region in the slot its id names (claimed before). */
  void put(Region r) {
    slots[(int) (r.id() & SLOT_MASK)] = r;
    size++;
  }

  Region get(long id) {
    int slot = (int) (id & SLOT_MASK);
    if (slot >= slots.length) {
      return null;
    }
    Region r = slots[slot];
    return r != null && r.id() == id ? r : null;
  }

  /** The region now in the slot {@code id} names, whatever its id; null for an empty slot. */
  Region occupantOfSlot(long id) {
    int slot = (int) (id & SLOT_MASK);
    return slot < slots.length ? slots[slot] : null;
  }

  void remove(long id) {
    int slot = (int) (id & SLOT_MASK);
    if (slot < slots.length && slots[slot] != null && slots[slot].id() == id) {
      slots[slot] = null;
      size--;
      pushFree(slot);
    }
  }

  private void pushFree(int slot) {
    if (freeCount == freeSlots.length) {
      freeSlots = Arrays.copyOf(freeSlots, freeCount * 2);
    }
    freeSlots[freeCount++] = slot;
  }

  /** Slots ever used: {@link #slotAt} is defined below this. */
  int slotCount() {
    return nextUnused;
  }

  /** The region in a slot, or null. */
  Region slotAt(int slot) {
    return slots[slot];
  }

  /** A snapshot of all regions, in slot order. */
  List<Region> values() {
    List<Region> out = new ArrayList<>(size);
    for (int i = 0; i < nextUnused; i++) {
      if (slots[i] != null) {
        out.add(slots[i]);
      }
    }
    return out;
  }
}

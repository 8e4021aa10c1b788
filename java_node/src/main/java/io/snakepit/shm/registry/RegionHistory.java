package io.snakepit.shm.registry;

import java.util.ArrayList;
import java.util.List;

/**
 * The last few events of one region (a ring of at most {@code capacity}), kept compact
 * because every region has one: an event is one long (time in ms since the epoch, shifted,
 * with the event's ordinal in the low {@value #KIND_BITS} bits) and a reference to its
 * holder, about 12 bytes per event. The arrays start with room for
 * {@value #INITIAL_EVENTS} events (most regions see only allocated and released) and
 * double up to the capacity.
 *
 * <p>Thread-safety: none; owned by the registry's owner thread.
 */
public final class RegionHistory {
  private static final int KIND_BITS = 5;
  private static final long KIND_MASK = (1L << KIND_BITS) - 1;

  /** One remembered event: what, by whom (null for the node itself) and when. */
  public record Entry(RegionEvent event, Holder who, long atMs) {}

  private static final int INITIAL_EVENTS = 2;
  private final int capacity;
  private long[] packed;
  private Holder[] who;
  private int next;
  private long total;

  RegionHistory(int capacity) {
    this.capacity = capacity;
    packed = new long[Math.min(INITIAL_EVENTS, capacity)];
    who = new Holder[packed.length];
  }

  void add(RegionEvent e, Holder by, long atMs) {
    if (total == packed.length && packed.length < capacity) {
      // not wrapped yet: the events are in order in [0, length); grow and append
      int grown = Math.min(capacity, packed.length * 2);
      packed = java.util.Arrays.copyOf(packed, grown);
      who = java.util.Arrays.copyOf(who, grown);
      next = (int) total;
    }
    packed[next] = (atMs << KIND_BITS) | e.ordinal();
    who[next] = by;
    next = next + 1 == packed.length ? 0 : next + 1;
    total++;
  }

  /** Events ever added (more than {@link #entries()} holds once the ring has wrapped). */
  public long total() {
    return total;
  }

  /** The remembered events, oldest first. */
  public List<Entry> entries() {
    int n = (int) Math.min(total, packed.length);
    List<Entry> out = new ArrayList<>(n);
    int start = total > packed.length ? next : 0;
    for (int i = 0; i < n; i++) {
      int at = (start + i) % packed.length;
      out.add(new Entry(RegionEvent.ofOrdinal((int) (packed[at] & KIND_MASK)), who[at], packed[at] >>> KIND_BITS));
    }
    return out;
  }
}

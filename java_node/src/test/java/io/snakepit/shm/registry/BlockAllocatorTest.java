package io.snakepit.shm.registry;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

class BlockAllocatorTest {

  @Test
  void allocatesFromTheStartAndRefusesWhenFull() {
    BlockAllocator a = new BlockAllocator(256, 256 + 1024);
    assertEquals(256, a.allocate(512));
    assertEquals(768, a.allocate(512));
    assertEquals(-1, a.allocate(64));
    assertEquals(0, a.freeBytes());
  }

  @Test
  void freeCoalescesNeighboursBackIntoOneRange() {
    BlockAllocator a = new BlockAllocator(0, 4096);
    long x = a.allocate(1024);
    long y = a.allocate(1024);
    long z = a.allocate(1024);
    long w = a.allocate(1024);
    a.free(x, 1024);
    a.free(z, 1024);
    assertEquals(2, a.freeRangeCount(), "x and z are separate");
    a.free(y, 1024);
    assertEquals(1, a.freeRangeCount());
    assertEquals(3072, a.largestFreeBytes());
    a.free(w, 1024);
    assertEquals(4096, a.largestFreeBytes());
    assertTrue(a.isEmpty());
  }

  @Test
  void bestFitPicksTheSmallestRangeThatFits() {
    BlockAllocator a = new BlockAllocator(0, 10_000);
    long big = a.allocate(4000);
    long sep1 = a.allocate(64);
    long small = a.allocate(128);
    a.allocate(64);
    a.free(big, 4000);
    a.free(small, 128);
    assertEquals(small, a.allocate(128), "the 128-byte hole, not the 4000-byte one");
    assertEquals(big, a.allocate(2000));
    assertTrue(sep1 > 0);
  }

  @Test
  void doubleFreeAndOutOfRangeAreRefused() {
    BlockAllocator a = new BlockAllocator(0, 1024);
    long x = a.allocate(256);
    a.free(x, 256);
    assertThrows(IllegalStateException.class, () -> a.free(x, 256));
    assertThrows(IllegalArgumentException.class, () -> a.free(1000, 256));
    assertThrows(IllegalArgumentException.class, () -> a.allocate(0));
  }

  @Test
  void randomWorkloadKeepsAccountingExactAndRangesDisjoint() {
    Random rnd = new Random(42);
    BlockAllocator a = new BlockAllocator(256, 1 << 20);
    List<long[]> live = new ArrayList<>();
    long used = 0;
    for (int i = 0; i < 20_000; i++) {
      if (live.isEmpty() || rnd.nextInt(3) > 0) {
        long len = 64L * (1 + rnd.nextInt(64));
        long off = a.allocate(len);
        if (off >= 0) {
          for (long[] r : live) {
            assertTrue(off + len <= r[0] || r[0] + r[1] <= off, "overlap at " + off);
          }
          live.add(new long[] {off, len});
          used += len;
        }
      } else {
        long[] r = live.remove(rnd.nextInt(live.size()));
        a.free(r[0], r[1]);
        used -= r[1];
      }
      if (live.size() > 200) {
        long[] r = live.remove(0);
        a.free(r[0], r[1]);
        used -= r[1];
      }
      assertEquals(a.capacityBytes() - used, a.freeBytes());
    }
    for (long[] r : live) {
      a.free(r[0], r[1]);
    }
    assertTrue(a.isEmpty());
    assertEquals(1, a.freeRangeCount());
  }
}

package io.snakepit.shm.registry;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class SizeClassesTest {

  @Test
  void fourClassesPerDoublingAllMultiplesOf64() {
    SizeClasses c = new SizeClasses(64 + (1 << 20), 4);
    assertEquals(128, c.blockBytes(0));
    assertEquals(192, c.blockBytes(1));
    assertEquals(256, c.blockBytes(2));
    assertEquals(320, c.blockBytes(3));
    assertEquals(512, c.blockBytes(6));
    assertEquals(640, c.blockBytes(7));
    for (int i = 0; i < c.count(); i++) {
      assertEquals(0, c.blockBytes(i) % 64);
      if (i > 0) {
        assertTrue(c.blockBytes(i) > c.blockBytes(i - 1));
      }
    }
    assertEquals(64 + (1 << 20), c.maxBlockBytes());
  }

  @Test
  void classOfIsTheSmallestThatFitsAndWasteIsBounded() {
    SizeClasses c = new SizeClasses(1 << 20, 4);
    for (long need = 64; need <= (1 << 20); need += 64 * 7) {
      int k = c.classOf(need);
      assertTrue(c.blockBytes(k) >= need);
      assertTrue(k == 0 || c.blockBytes(k - 1) < need);
      assertTrue(c.blockBytes(k) <= Math.max(128, need * 1.25 + 64), need + " -> " + c.blockBytes(k));
    }
    assertEquals(-1, c.classOf((1 << 20) + 1));
  }

  @Test
  void onlyPowersOfTwoUpToEightPerDoubling() {
    assertThrows(IllegalArgumentException.class, () -> new SizeClasses(4096, 3));
    assertThrows(IllegalArgumentException.class, () -> new SizeClasses(4096, 16));
    assertEquals(128, new SizeClasses(4096, 1).blockBytes(0));
    assertEquals(256, new SizeClasses(4096, 1).blockBytes(1));
  }
}

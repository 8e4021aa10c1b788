package io.snakepit.shm.registry;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;

import java.util.HashMap;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;

class RegionTableTest {
  private static Region region(long id) {
    return new Region(id, id, null, 0, 1, 128, false, null, null, null, Access.READ_WRITE, 0, 0);
  }

  @Test
  void behavesLikeAHashMapUnderRandomPutsAndRemoves() {
    Random rnd = new Random(11);
    RegionTable table = new RegionTable();
    Map<Long, Region> model = new HashMap<>();
    long prefix = 0x123456L << 40;
    for (int i = 0; i < 200_000; i++) {
      long key = prefix | rnd.nextInt(50_000);
      if (rnd.nextInt(3) == 0) {
        table.remove(key);
        model.remove(key);
      } else {
        Region r = region(key);
        table.put(key, r);
        model.put(key, r);
      }
      if (i % 1000 == 0) {
        long probe = prefix | rnd.nextInt(50_000);
        assertSame(model.get(probe), table.get(probe));
      }
    }
    assertEquals(model.size(), table.size());
    for (Map.Entry<Long, Region> e : model.entrySet()) {
      assertSame(e.getValue(), table.get(e.getKey()));
    }
    assertEquals(model.size(), table.values().size());
    for (long k : model.keySet().toArray(new Long[0])) {
      table.remove(k);
    }
    assertEquals(0, table.size());
    assertNull(table.get(prefix | 1));
  }
}

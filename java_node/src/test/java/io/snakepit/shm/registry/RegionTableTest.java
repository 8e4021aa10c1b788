package io.snakepit.shm.registry;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;

class RegionTableTest {
  private long seq = 1000;

  private Region newRegion(RegionTable table) {
    int slot = table.claim();
    long s = ++seq;
    Region r = new Region(RegionTable.id(s, slot), s, null, 0, 1, 128, false, null, null, null, Access.READ_WRITE,
        0, 0);
    table.put(r);
    return r;
  }

  @Test
  void behavesLikeAMapByIdUnderRandomAllocationsAndRemovals() {
    Random rnd = new Random(11);
    RegionTable table = new RegionTable();
    Map<Long, Region> model = new HashMap<>();
    List<Long> ids = new ArrayList<>();
    for (int i = 0; i < 200_000; i++) {
      if (!ids.isEmpty() && rnd.nextInt(3) == 0) {
        long id = ids.remove(rnd.nextInt(ids.size()));
        table.remove(id);
        model.remove(id);
      } else {
        Region r = newRegion(table);
        ids.add(r.id());
        model.put(r.id(), r);
      }
    }
    assertEquals(model.size(), table.size());
    for (Map.Entry<Long, Region> e : model.entrySet()) {
      assertSame(e.getValue(), table.get(e.getKey()));
    }
    assertEquals(model.size(), table.values().size());
  }

  @Test
  void aReusedSlotDoesNotAnswerForItsOldIdAndUnknownIdsAreNotFound() {
    RegionTable table = new RegionTable();
    Region a = newRegion(table);
    table.remove(a.id());
    Region b = newRegion(table);
    assertEquals(a.id() & (RegionTable.MAX_SLOTS - 1), b.id() & (RegionTable.MAX_SLOTS - 1), "slot reused");
    assertNull(table.get(a.id()), "the old id of a reused slot");
    assertSame(b, table.get(b.id()));
    assertNull(table.get(0xFFFF_FFFF_FFFFL));
    assertNull(table.get(-1L));
  }

  @Test
  void anUnclaimedSlotIsReused() {
    RegionTable table = new RegionTable();
    int s = table.claim();
    table.unclaim(s);
    assertEquals(s, table.claim());
  }
}

package io.snakepit.shm.registry;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.snakepit.shm.platform.Platforms;
import io.snakepit.shm.platform.SharedMemoryPlatform;
import io.snakepit.shm.segment.ManagerInstance;
import io.snakepit.shm.segment.SegmentStore;
import java.io.IOException;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** Size-class placement in real pooled segments under /dev/shm. */
class PoolAllocatorTest {
  private static final long SEGMENT = 1 << 20;
  private final SharedMemoryPlatform platform = Platforms.forCurrentOs();
  private ShmDirFixture shm;
  private PoolAllocator pool;

  @BeforeEach
  void setUp() throws IOException {
    shm = new ShmDirFixture("pool");
    long pid = platform.currentPid();
    SegmentStore store = new SegmentStore(platform, shm.dir,
        new ManagerInstance("t@h", pid, platform.processStartTicks(pid), 3, platform.bootId()));
    pool = new PoolAllocator(store, new SizeClasses(64 * 1024, 4), SEGMENT);
  }

  @AfterEach
  void tearDown() throws IOException {
    try {
      pool.destroyAll();
    } finally {
      shm.close();
    }
  }

  @Test
  void aFreedBlockIsReusedForItsClassFirst() {
    PoolAllocator.Block a = pool.allocate(1000, 0);
    PoolAllocator.Block b = pool.allocate(1000, 0);
    pool.free(a, true, false, 0);
    PoolAllocator.Block c = pool.allocate(990, 0);
    assertEquals(a.offsetBytes(), c.offsetBytes());
    assertEquals(a.sizeClass(), c.sizeClass());
    assertNotEquals(b.offsetBytes(), c.offsetBytes());
  }

  @Test
  void blocksNeverOverlapAndStayInsideTheirSegment() {
    Random rnd = new Random(7);
    List<PoolAllocator.Block> live = new ArrayList<>();
    for (int i = 0; i < 20_000; i++) {
      if (live.isEmpty() || rnd.nextInt(10) < 6) {
        live.add(pool.allocate(64 + rnd.nextInt(8000), i));
      } else {
        pool.free(live.remove(rnd.nextInt(live.size())), false, false, i);
      }
    }
    Set<String> seen = new HashSet<>();
    live.sort((x, y) -> x.pool().slot != y.pool().slot ? Integer.compare(x.pool().slot, y.pool().slot)
        : Long.compare(x.offsetBytes(), y.offsetBytes()));
    for (int i = 0; i < live.size(); i++) {
      PoolAllocator.Block b = live.get(i);
      assertEquals(0, b.offsetBytes() % 64);
      assertTrue(b.offsetBytes() >= 256 && b.offsetBytes() + b.blockBytes() <= b.pool().segment.sizeBytes());
      assertTrue(seen.add(b.pool().slot + ":" + b.offsetBytes()));
      if (i > 0 && live.get(i - 1).pool() == b.pool()) {
        PoolAllocator.Block prev = live.get(i - 1);
        assertTrue(prev.offsetBytes() + prev.blockBytes() <= b.offsetBytes(), "overlap");
      }
    }
  }

  @Test
  void newBlocksGoToTheOldestSegmentSoNewerOnesDrainAndAreReleased() throws IOException {
    List<PoolAllocator.Block> first = new ArrayList<>();
    while (pool.segments().size() < 2) {
      first.add(pool.allocate(60_000, 0));
    }
    PoolAllocator.Block inSecond = first.remove(first.size() - 1);
    assertEquals(1, inSecond.pool().slot);
    pool.free(first.remove(0), false, false, 0);
    PoolAllocator.Block again = pool.allocate(60_000, 0);
    assertEquals(0, again.pool().slot, "a hole in the oldest segment beats room in the newest");
    pool.free(inSecond, false, false, 10);
    assertEquals(0, pool.releaseEmpty(10, 1000), "not idle long enough");
    assertEquals(1, pool.releaseEmpty(1010, 1000));
    assertEquals(1, pool.segments().size());
    assertEquals(1, shm.fileCount());
  }

  @Test
  void anEmptiedSegmentServesEveryClassAgain() {
    List<PoolAllocator.Block> small = new ArrayList<>();
    PoolAllocator.Block b;
    do {
      b = pool.allocate(128, 0);
      small.add(b);
    } while (b.pool().slot == 0);
    for (PoolAllocator.Block s : small) {
      pool.free(s, false, false, 0);
    }
    PoolAllocator.Block big = pool.allocate(64 * 1024, 0);
    assertEquals(0, big.pool().slot);
    assertEquals(256, big.offsetBytes(), "the reset segment starts over");
  }

  @Test
  void largeBlocksArePunchedOnFreeAndReservedAgainWithZeros() {
    PoolAllocator.Block keep = pool.allocate(1000, 0);
    PoolAllocator.Block big = pool.allocate(64 * 1024, 0);
    long payload = big.offsetBytes() + 64;
    big.pool().segment.access(payload, 4096, (m, at, len) -> m.fill(at, len, (byte) 7));
    pool.free(big, true, false, 0);
    PoolAllocator.Block again = pool.allocate(64 * 1024, 0);
    assertEquals(big.offsetBytes(), again.offsetBytes());
    byte[] got = new byte[4096];
    again.pool().segment.access(payload, 4096, (m, at, len) -> m.getBytes(at, got, 0, (int) len));
    assertArrayEquals(new byte[4096], got);
    assertFalse(keep.pool().isEmpty());
  }

  @Test
  void aNewLayoutDrainsOldSegments() {
    PoolAllocator.Block old = pool.allocate(1000, 0);
    pool.reconfigure(new SizeClasses(32 * 1024, 2), SEGMENT / 2);
    PoolAllocator.Block fresh = pool.allocate(1000, 0);
    assertNotEquals(old.pool(), fresh.pool());
    assertTrue(old.pool().draining);
    pool.free(old, false, false, 5);
    assertEquals(1, pool.releaseEmpty(5, 0));
    assertEquals(1, pool.segments().size());
  }

  @Test
  void fragmentationIsVisibleAsFreeBytesAgainstTheLargestBlock() {
    List<PoolAllocator.Block> blocks = new ArrayList<>();
    for (int i = 0; i < 100; i++) {
      blocks.add(pool.allocate(4000, 0));
    }
    PoolSegment seg = blocks.get(0).pool();
    long room = seg.bumpRoomBytes();
    for (int i = 0; i < 100; i += 2) {
      pool.free(blocks.get(i), false, false, 0);
    }
    assertEquals(room + 50 * blocks.get(0).blockBytes(), seg.freeBytes());
    assertEquals(Math.max(room, blocks.get(0).blockBytes()), seg.largestFreeBytes());
  }
}

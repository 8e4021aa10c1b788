package io.snakepit.shm.registry;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.snakepit.shm.platform.Mapping;
import io.snakepit.shm.platform.Platforms;
import io.snakepit.shm.platform.SharedMemoryPlatform;
import io.snakepit.shm.segment.ManagerInstance;
import io.snakepit.shm.segment.SegmentStore;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The registry on a real hugetlbfs mount (root only: reserves 32 huge pages, mounts, and
 * restores both afterwards). Segments are sized in huge pages and zeroing clears bytes
 * through a mapping, since hugetlbfs cannot punch partial huge pages.
 */
class HugetlbfsRegistryTest {
  private static final Path NR_HUGEPAGES = Path.of("/proc/sys/vm/nr_hugepages");
  private static final long HUGE = 2L << 20;
  private final SharedMemoryPlatform platform = Platforms.forCurrentOs();
  private final Holder alice = new Holder.BeamProcess("alice");
  private String oldHugePages;
  private Path mount;
  private boolean mounted;
  private RegionRegistry registry;
  private SegmentStore store;

  @BeforeEach
  void mountHugetlbfs() throws Exception {
    assumeTrue(Files.isWritable(NR_HUGEPAGES), "needs root to reserve huge pages");
    oldHugePages = Files.readString(NR_HUGEPAGES).strip();
    if (Long.parseLong(oldHugePages) < 32) {
      Files.writeString(NR_HUGEPAGES, "32");
    }
    mount = Files.createTempDirectory(Path.of("/dev/shm"), "snktest-huge-");
    Process p = new ProcessBuilder("mount", "-t", "hugetlbfs", "-o", "pagesize=2M,mode=0700", "none",
        mount.toString()).redirectErrorStream(true).start();
    mounted = p.waitFor() == 0;
    assumeTrue(mounted, "hugetlbfs mount failed: " + new String(p.getInputStream().readAllBytes()));
    long pid = platform.currentPid();
    store = new SegmentStore(platform, mount,
        new ManagerInstance("t@h", pid, platform.processStartTicks(pid), 1, platform.bootId()));
    registry = new RegionRegistry(store, ShmConfig.defaults(64L << 20).with(Map.of("pool_segment_bytes", 3L << 20,
        "zero_on_free", new ShmException.Atom("always"))), HolderListener.NONE);
  }

  @AfterEach
  void unmount() throws Exception {
    try {
      if (registry != null) {
        registry.shutdown();
      }
    } finally {
      if (mounted) {
        new ProcessBuilder("umount", mount.toString()).start().waitFor();
      }
      if (mount != null) {
        Files.deleteIfExists(mount);
      }
      if (oldHugePages != null) {
        Files.writeString(NR_HUGEPAGES, oldHugePages);
      }
    }
  }

  @Test
  void segmentsAreSizedInHugePagesAndRegionsWork() throws IOException {
    assertTrue(store.isHugetlbfs());
    assertEquals(HUGE, store.fsPageBytes());
    Region small = registry.allocate(new AllocateRequest(1000, alice, null, null, false, 0, null, Access.READ_WRITE), 0);
    Region big = registry.allocate(new AllocateRequest(3L << 20, alice, null, null, false, 0, null, Access.READ_WRITE), 0);
    assertEquals(0, Files.size(small.segment().path()) % HUGE);
    assertEquals(0, Files.size(big.segment().path()) % HUGE);
    assertTrue(Files.size(big.segment().path()) >= big.payloadOffsetBytes() + big.sizeBytes());
    assertEquals(4L << 20, Files.size(small.segment().path()), "3 MiB asked, rounded up to 2 huge pages");
  }

  @Test
  void zeroingClearsBytesThatAnotherMappingSees() {
    Region r = registry.allocate(new AllocateRequest(5000, alice, null, null, true, 0, null, Access.READ_WRITE), 0);
    int fd = platform.openExisting(store.shmDir(), r.segment().fileName(), true);
    Mapping m = platform.map(fd, 0, HUGE, true, "test");
    try {
      byte[] secret = "huge secret".getBytes();
      m.putBytes(r.payloadOffsetBytes(), secret, 0, secret.length);
      registry.release(r.id(), alice, null, 0);
      registry.tick(1000);
      byte[] after = new byte[secret.length];
      m.getBytes(r.payloadOffsetBytes(), after, 0, after.length);
      assertArrayEquals(new byte[secret.length], after);
    } finally {
      platform.unmap(m);
      platform.close(fd);
    }
  }
}

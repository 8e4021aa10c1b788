package io.snakepit.shm.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.snakepit.shm.platform.Platforms;
import io.snakepit.shm.platform.SharedMemoryPlatform;
import io.snakepit.shm.registry.Access;
import io.snakepit.shm.registry.AllocateRequest;
import io.snakepit.shm.registry.Holder;
import io.snakepit.shm.registry.HolderListener;
import io.snakepit.shm.registry.Region;
import io.snakepit.shm.registry.RegionRegistry;
import io.snakepit.shm.registry.ShmConfig;
import io.snakepit.shm.segment.ManagerInstance;
import io.snakepit.shm.segment.RegionHeaderLayout;
import io.snakepit.shm.segment.SegmentStore;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.FileTime;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import java.util.zip.CRC32;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The offline reading of an shm dir (list --offline, health --offline) against real
 * segments made by a real registry in a private directory under /dev/shm.
 */
class ShmDirScanTest {
  private static final long T0 = 1_000_000;
  private final SharedMemoryPlatform platform = Platforms.forCurrentOs();
  private final Holder alice = new Holder.BeamProcess("alice");
  private final List<RegionRegistry> registries = new ArrayList<>();
  private Path dir;

  @BeforeEach
  void setUp() throws IOException {
    dir = Files.createDirectory(Path.of("/dev/shm", "snktest-cliscan-" + Long.toHexString(
        new SecureRandom().nextLong())));
  }

  @AfterEach
  void tearDown() throws IOException {
    try {
      for (RegionRegistry r : registries) {
        r.shutdown();
      }
    } finally {
      try (Stream<Path> s = Files.list(dir)) {
        for (Path p : (Iterable<Path>) s::iterator) {
          Files.deleteIfExists(p);
        }
      }
      Files.deleteIfExists(dir);
    }
  }

  private RegionRegistry registry(ManagerInstance owner) {
    RegionRegistry r = new RegionRegistry(new SegmentStore(platform, dir, owner), ShmConfig.defaults(1L << 30),
        HolderListener.NONE);
    registries.add(r);
    return r;
  }

  private ManagerInstance me() {
    long pid = platform.currentPid();
    return new ManagerInstance("me@host", pid, platform.processStartTicks(pid), 11, platform.bootId());
  }

  private ManagerInstance deadManager() throws Exception {
    Process p = new ProcessBuilder("sleep", "30").start();
    long ticks = platform.processStartTicks(p.pid());
    p.destroyForcibly().waitFor();
    return new ManagerInstance("dead@host", p.pid(), ticks, 12, platform.bootId());
  }

  private static Region allocate(RegionRegistry r, long size, Holder h) {
    return r.allocate(new AllocateRequest(size, h, null, null, false, 0, null, Access.READ_WRITE), T0);
  }

  private ShmDirScan.Result scan() throws UsageException {
    return new ShmDirScan(platform, dir).scan(true, new Progress(System.err, false, "read"));
  }

  private static Map<String, ShmDirScan.Region> byId(ShmDirScan.Result scan) {
    return scan.regions().stream().collect(Collectors.toMap(ShmDirScan.Region::id, r -> r));
  }

  @Test
  void findsEveryRegionOfPooledAndDedicatedSegmentsWithItsOwner() throws Exception {
    RegionRegistry reg = registry(me());
    List<Region> made = List.of(allocate(reg, 100, alice), allocate(reg, 4096, alice), allocate(reg, 70_000, alice),
        allocate(reg, 3 << 20, alice));

    ShmDirScan.Result scan = scan();

    assertEquals(2, scan.segments().size(), "one pooled and one dedicated segment");
    Map<String, ShmDirScan.Region> found = byId(scan);
    assertEquals(made.size(), found.size(), "found: " + found.keySet());
    for (Region r : made) {
      ShmDirScan.Region f = found.get(r.idText());
      assertEquals(r.generation(), f.generation());
      assertEquals(r.sizeBytes(), f.size());
      assertEquals(r.payloadOffsetBytes(), f.offset());
      assertEquals("live", f.state());
      assertEquals(r.segment().shmName(), f.segment());
    }
    for (ShmDirScan.Segment s : scan.segments()) {
      assertEquals("me@host", s.owner().node());
      assertTrue(s.owner().alive(), "this process owns them");
      assertTrue(s.corruptHeaderOffsets().isEmpty());
    }
    assertEquals(List.of("dedicated", "pooled"), scan.segments().stream().map(ShmDirScan.Segment::kind).sorted()
        .toList());
    Map<String, Object> health = OfflineHealth.evaluate(scan, System.currentTimeMillis());
    assertEquals("ok", health.get("status"), Json.write(health));
  }

  @Test
  void bytesInsideAPayloadThatLookLikeAHeaderAreNotTakenForOne() throws Exception {
    RegionRegistry reg = registry(me());
    Region a = allocate(reg, 100, alice);
    Region b = allocate(reg, 8192, alice);
    Region c = allocate(reg, 100, alice);
    // a header image with a valid CRC whose recorded payload offset matches its position,
    // written inside b's payload: only a walk that skips payloads ignores it
    long fakeAt = b.payloadOffsetBytes() + 128;
    ByteBuffer fake = ByteBuffer.allocate(RegionHeaderLayout.HEADER_BYTES).order(ByteOrder.LITTLE_ENDIAN);
    fake.putInt(0, RegionHeaderLayout.MAGIC);
    fake.putShort(4, (short) RegionHeaderLayout.LAYOUT_VERSION);
    fake.putShort(6, (short) RegionHeaderLayout.STATE_LIVE);
    fake.putLong(8, 0xdeadbeefL);
    fake.putLong(16, 1);
    fake.putLong(24, 64);
    fake.putLong(32, fakeAt + RegionHeaderLayout.HEADER_BYTES);
    CRC32 crc = new CRC32();
    crc.update(fake.array(), 8, 48);
    fake.putInt(56, (int) crc.getValue());
    try (FileChannel ch = FileChannel.open(b.segment().path(), StandardOpenOption.WRITE)) {
      ch.write(fake, fakeAt);
    }

    Map<String, ShmDirScan.Region> found = byId(scan());

    assertEquals(java.util.Set.of(a.idText(), b.idText(), c.idText()), found.keySet());
  }

  @Test
  void aCorruptRegionHeaderIsReportedNotListed() throws Exception {
    RegionRegistry reg = registry(me());
    Region keep = allocate(reg, 100, alice);
    Region broken = allocate(reg, 100, alice);
    try (FileChannel ch = FileChannel.open(broken.segment().path(), StandardOpenOption.WRITE)) {
      ch.write(ByteBuffer.wrap(new byte[] {0x55}), broken.headerOffsetBytes() + 20); // inside the generation
    }

    ShmDirScan.Result scan = scan();

    assertEquals(java.util.Set.of(keep.idText()), byId(scan).keySet());
    assertEquals(List.of(broken.headerOffsetBytes()), scan.segments().get(0).corruptHeaderOffsets());
    Map<String, Object> health = OfflineHealth.evaluate(scan, System.currentTimeMillis());
    assertEquals("degraded", health.get("status"));
    assertEquals(1, TermValues.list(health.get("corrupt_headers")).size());
  }

  @Test
  void aFreedRegionIsNoLongerLive() throws Exception {
    RegionRegistry reg = registry(me());
    Region gone = allocate(reg, 100, alice);
    Region kept = allocate(reg, 100, alice);
    reg.release(gone.id(), alice, null, T0 + 1);
    reg.tick(T0 + 60_000);

    Map<String, ShmDirScan.Region> found = byId(scan());

    assertEquals("live", found.get(kept.idText()).state());
    ShmDirScan.Region g = found.get(gone.idText());
    assertTrue(g == null || g.state().equals("freed"), "a deallocated region is not live: " + g);
  }

  @Test
  void segmentsOfADeadManagerAndHeaderlessFilesMakeTheOfflineHealthDegraded() throws Exception {
    RegionRegistry live = registry(me());
    allocate(live, 100, alice);
    RegionRegistry dead = registry(deadManager());
    Region orphan = allocate(dead, 2 << 20, alice);
    Path headerless = dir.resolve("snk" + "a".repeat(22));
    Files.write(headerless, new byte[4096]);
    Files.setLastModifiedTime(headerless, FileTime.fromMillis(System.currentTimeMillis() - 60_000));

    ShmDirScan.Result scan = scan();

    ShmDirScan.Segment deadSeg = scan.segments().stream()
        .filter(s -> s.owner() != null && s.owner().node().equals("dead@host")).findFirst().orElseThrow();
    assertFalse(deadSeg.owner().alive());
    assertTrue(deadSeg.owner().deathReason().contains("no process"), deadSeg.owner().deathReason());
    assertEquals(orphan.idText(), deadSeg.regions().get(0).id(), "its regions are still listed");
    ShmDirScan.Segment noHeader = scan.segments().stream().filter(s -> s.path().equals(headerless)).findFirst()
        .orElseThrow();
    assertNull(noHeader.header());

    Map<String, Object> health = OfflineHealth.evaluate(scan, System.currentTimeMillis());
    assertEquals("degraded", health.get("status"), Json.write(health));
    assertEquals(1, TermValues.list(health.get("stale_segments")).size());
    assertEquals(1, TermValues.list(health.get("headerless_files")).size());
    Map<String, Object> doc = OfflineJson.document(scan, 1000);
    assertEquals(2L, doc.get("region_count"));
    assertEquals(2, TermValues.list(doc.get("managers")).size());
  }

  @Test
  void aRegionHeaderIsReadBackForDumpAndDeepChecks() throws Exception {
    RegionRegistry reg = registry(me());
    Region r = allocate(reg, 300, alice);
    RegionHeaderLayout.Header h = ShmDirScan.readRegionHeader(r.segment().path(), r.headerOffsetBytes());
    assertEquals(r.id(), h.regionId());
    assertEquals(r.generation(), h.generation());
    assertTrue(h.crcValid());
    assertEquals("me@host", ShmDirScan.readSegmentHeader(r.segment().path()).owner().nodeName());
    try (FileChannel ch = FileChannel.open(r.segment().path(), StandardOpenOption.WRITE)) {
      ch.write(ByteBuffer.wrap("abc".getBytes(java.nio.charset.StandardCharsets.US_ASCII)), r.payloadOffsetBytes());
    }
    DumpCommand.Target t = new DumpCommand.Target(r.idText(), r.generation(), r.segment().path(),
        r.segment().shmName(), r.payloadOffsetBytes(), r.sizeBytes(), false, true);
    assertEquals("abc", new String(DumpCommand.read(t, 0, 3), java.nio.charset.StandardCharsets.US_ASCII));
    DumpCommand.Target stale = new DumpCommand.Target(r.idText(), r.generation() + 1, r.segment().path(),
        r.segment().shmName(), r.payloadOffsetBytes(), r.sizeBytes(), false, true);
    UsageException e = org.junit.jupiter.api.Assertions.assertThrows(UsageException.class,
        () -> DumpCommand.read(stale, 0, 3));
    assertTrue(e.getMessage().contains("nothing dumped"), e.getMessage());
  }
}

package io.snakepit.shm.registry;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.snakepit.shm.platform.Platforms;
import io.snakepit.shm.platform.SharedMemoryPlatform;
import io.snakepit.shm.segment.ManagerInstance;
import io.snakepit.shm.segment.SegmentStore;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** Region history, the audit log, headroom, top holders and operation histograms, on real segments. */
class ObservabilityRegistryTest {
  private static final long T0 = 1_000_000;
  private final SharedMemoryPlatform platform = Platforms.forCurrentOs();
  private final Holder alice = new Holder.BeamProcess("alice");
  private final Holder bob = new Holder.BeamProcess("bob");
  private ShmDirFixture shm;
  private RegionRegistry registry;

  @BeforeEach
  void setUp() throws IOException {
    shm = new ShmDirFixture("obs");
    long pid = platform.currentPid();
    ManagerInstance me = new ManagerInstance("test@host", pid, platform.processStartTicks(pid), 7, platform.bootId());
    registry = new RegionRegistry(new SegmentStore(platform, shm.dir, me), ShmConfig.defaults(1L << 30),
        HolderListener.NONE);
  }

  @AfterEach
  void tearDown() throws IOException {
    try {
      registry.shutdown();
    } finally {
      shm.close();
    }
  }

  private Region allocate(long size, Holder h, String session) {
    return registry.allocate(new AllocateRequest(size, h, session, null, false, 0, null, Access.READ_WRITE), T0);
  }

  private static List<RegionEvent> events(Region r) {
    return r.history().stream().map(RegionHistory.Entry::event).toList();
  }

  @Test
  void aRegionRemembersWhatHappenedToItByWhomAndWhen() {
    Region r = allocate(100, alice, "s");
    registry.acquire(r.id(), bob, null, r.tokenText(), T0 + 1);
    registry.release(r.id(), bob, null, T0 + 2);
    registry.acquire(r.id(), bob, null, r.tokenText(), T0 + 3);
    registry.dropHolder(bob, T0 + 4);
    registry.free(r.id(), alice, null, T0 + 5);
    assertEquals(List.of(RegionEvent.ALLOCATED, RegionEvent.ACQUIRED, RegionEvent.RELEASED, RegionEvent.ACQUIRED,
        RegionEvent.HOLDER_DOWN, RegionEvent.FREED), events(r));
    RegionHistory.Entry down = r.history().get(4);
    assertEquals(bob, down.who());
    assertEquals(T0 + 4, down.atMs());
  }

  @Test
  void historyIsBoundedAndCanBeTurnedOff() {
    Region r = allocate(100, alice, null);
    for (int i = 0; i < 20; i++) {
      registry.acquire(r.id(), bob, null, r.tokenText(), T0 + 10 + i);
    }
    List<RegionHistory.Entry> h = r.history();
    assertEquals(8, h.size(), "history_events defaults to 8");
    assertEquals(T0 + 10 + 12, h.get(0).atMs(), "the oldest kept is the 13th acquire");
    assertEquals(T0 + 10 + 19, h.get(7).atMs());

    registry.configure(Map.of("history_events", 0L));
    assertEquals(List.of(), allocate(100, alice, null).history());
  }

  @Test
  void theAuditLogGetsEveryRegionAndSecurityEventAsAJsonLine() throws IOException {
    Path file = shm.dir.resolve("audit.log");
    AuditLog log = AuditLog.open(file);
    registry.setAuditLog(log);
    Region r = allocate(100, alice, "se\"ss");
    registry.release(r.id(), alice, null, T0 + 1);
    try {
      registry.acquire(r.id(), bob, null, null, T0 + 2);
    } catch (ShmException expected) {
      // bad_token
    }
    registry.gc(T0 + 3);
    log.flush();
    List<String> lines = Files.readAllLines(file);
    assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(file)));
    assertEquals(4, lines.size(), String.join("\n", lines));
    assertEquals("{\"at_ms\":" + T0 + ",\"event\":\"allocated\",\"id\":\"" + r.idText() + "\",\"who\":\"alice\","
        + "\"size\":100,\"tenant\":null,\"session\":\"se\\\"ss\"}", lines.get(0));
    assertTrue(lines.get(1).contains("\"event\":\"released\""), lines.get(1));
    assertTrue(lines.get(2).contains("\"event\":\"security\",\"kind\":\"bad_token\""), lines.get(2));
    assertTrue(lines.get(3).contains("\"event\":\"deallocated\""), lines.get(3));
    log.close();
    Files.delete(file);
  }

  @Test
  void headroomNamesTheLargestHolderSessionAndTenant() {
    registry.configure(Map.of("max_holder_bytes", 10_000L, "max_session_bytes", 5000L));
    allocate(3000, alice, "s1");
    allocate(1000, alice, "s2");
    allocate(500, bob, "s1");
    Map<String, RegionRegistry.Headroom> byName = new java.util.HashMap<>();
    for (RegionRegistry.Headroom h : registry.headroom()) {
      byName.put(h.limitName(), h);
    }
    assertEquals(4500, byName.get("max_total_bytes").used());
    assertEquals(3, byName.get("max_regions").used());
    assertEquals(4000, byName.get("max_holder_bytes").used());
    assertEquals("alice", byName.get("max_holder_bytes").by());
    assertEquals(0.4, byName.get("max_holder_bytes").ratio(), 1e-9);
    assertEquals("s1", byName.get("max_session_bytes").by());
    assertEquals(3500, byName.get("max_session_bytes").used());
    assertNull(byName.get("max_tenant_bytes").by());
    assertEquals(0.0, byName.get("max_tenant_bytes").ratio(), "unlimited: no ratio");

    List<RegionRegistry.HolderUse> top = registry.topHolders(1);
    assertEquals(List.of(new RegionRegistry.HolderUse(alice, 4000, 2)), top);
  }

  @Test
  void operationsAreTimedIncludingMapZeroAndSweep() {
    Region big = registry.allocate(new AllocateRequest(2 << 20, alice, null, null, true, 0, null,
        Access.READ_WRITE), T0);
    registry.release(big.id(), alice, null, T0);
    registry.gc(T0 + 1);
    OperationStats ops = registry.operations();
    assertEquals(1, ops.histogram("allocate").getTotalCount());
    assertEquals(1, ops.histogram("release").getTotalCount());
    assertEquals(1, ops.histogram("map").getTotalCount(), "one dedicated segment made");
    assertEquals(1, ops.histogram("zero").getTotalCount(), "the sensitive region was zeroed");
    assertEquals(1, ops.histogram("sweep").getTotalCount(), "gc sweeps");
    assertTrue(ops.histogram("map").getMaxValue() > 0);
    assertEquals(List.of("allocate", "acquire", "release", "free", "map", "zero", "sweep"),
        List.copyOf(ops.asMap().keySet()));
  }
}

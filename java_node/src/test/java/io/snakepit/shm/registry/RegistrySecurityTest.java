package io.snakepit.shm.registry;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.snakepit.shm.platform.Platforms;
import io.snakepit.shm.platform.SharedMemoryPlatform;
import io.snakepit.shm.segment.ManagerInstance;
import io.snakepit.shm.segment.SegmentStore;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.function.Executable;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The registry's security checks (SECURITY.md) against real segments: capability tokens,
 * tenant checks on every call, the operator key, security events and the shm dir check.
 */
class RegistrySecurityTest {
  private static final long T0 = 1_000_000;
  private static final String KEY = "correct horse battery staple";
  private final SharedMemoryPlatform platform = Platforms.forCurrentOs();
  private final Holder alice = new Holder.BeamProcess("alice");
  private final Holder bob = new Holder.BeamProcess("bob");
  private ShmDirFixture shm;
  private RegionRegistry registry;

  @BeforeEach
  void setUp() throws IOException {
    shm = new ShmDirFixture("sec");
    long pid = platform.currentPid();
    ManagerInstance me = new ManagerInstance("test@host", pid, platform.processStartTicks(pid), 7, platform.bootId());
    registry = new RegionRegistry(new SegmentStore(platform, shm.dir, me), ShmConfig.defaults(1L << 30),
        new HolderListener() {
          @Override
          public void onFirstHold(Holder h) {}

          @Override
          public void onLastRelease(Holder h) {}
        });
    registry.setOperatorKey(OperatorKey.of(KEY));
  }

  @AfterEach
  void tearDown() throws IOException {
    try {
      registry.shutdown();
    } finally {
      shm.close();
    }
  }

  private Region allocate(Holder h, String tenant) {
    return registry.allocate(new AllocateRequest(4096, h, null, tenant, false, 0, null, Access.READ_WRITE), T0);
  }

  private long count(SecurityEvent.Kind k) {
    return registry.security().counts().get(k);
  }

  private static ErrorCode code(Executable call) {
    return assertThrows(ShmException.class, call).code();
  }

  @Test
  void acquireNeedsTheRegionsTokenAndAWrongOneIsAlwaysRefused() {
    Region r = allocate(alice, null);
    Region other = allocate(alice, null);
    assertTrue(r.tokenText().matches("[0-9a-f]{32}"));
    assertNotEquals(r.tokenText(), other.tokenText(), "every region has its own token");

    assertEquals(ErrorCode.FORBIDDEN, code(() -> registry.acquire(r.id(), bob, null, null, T0)));
    assertEquals(ErrorCode.FORBIDDEN, code(() -> registry.acquire(r.id(), bob, null, other.tokenText(), T0)));
    assertEquals(ErrorCode.FORBIDDEN, code(() -> registry.acquire(r.id(), bob, null, "not hex at all", T0)));
    assertEquals(3, count(SecurityEvent.Kind.BAD_TOKEN), "missing, another region's, malformed");
    assertEquals(1, registry.info(r.id(), null, null, null, T0).refcount(), "refused acquires add nothing");

    registry.acquire(r.id(), bob, null, r.tokenText(), T0);
    assertEquals(2, registry.info(r.id(), null, null, null, T0).refcount());

    registry.configure(Map.of("acquire_token", new ShmException.Atom("optional")));
    registry.acquire(r.id(), bob, null, null, T0);
    assertEquals(ErrorCode.FORBIDDEN, code(() -> registry.acquire(r.id(), bob, null, other.tokenText(), T0)),
        "optional means a token may be left out, not that a wrong one passes");
    assertEquals(4, count(SecurityEvent.Kind.BAD_TOKEN));
  }

  @Test
  void everyCallOnATenantsRegionNeedsThatTenant() {
    Region r = allocate(alice, "a");
    String t = r.tokenText();
    for (String wrong : new String[] {null, "b"}) {
      assertEquals(ErrorCode.FORBIDDEN, code(() -> registry.acquire(r.id(), bob, wrong, t, T0)));
      assertEquals(ErrorCode.FORBIDDEN, code(() -> registry.release(r.id(), alice, wrong, T0)));
      assertEquals(ErrorCode.FORBIDDEN, code(() -> registry.free(r.id(), alice, wrong, T0)));
      assertEquals(ErrorCode.FORBIDDEN, code(() -> registry.info(r.id(), alice, wrong, null, T0)));
      assertEquals(ErrorCode.FORBIDDEN, code(() -> registry.syncTarget(r.id(), alice, wrong, 0, 1, true, T0)));
      assertEquals(ErrorCode.FORBIDDEN, code(() -> registry.releaseMany(new long[] {r.id()}, alice, wrong, T0)));
    }
    assertEquals(12, count(SecurityEvent.Kind.TENANT_DENIED));
    assertEquals(1, registry.info(r.id(), alice, "a", null, T0).refcount(), "nothing changed");
    registry.acquire(r.id(), bob, "a", t, T0);
    registry.release(r.id(), bob, "a", T0);
    assertEquals(r, registry.info(r.id(), bob, null, KEY, T0), "an operator inspects any tenant's region");
  }

  @Test
  void listShowsOnlyTheCallersTenantUnlessTheCallerIsAnOperator() {
    Region none = allocate(alice, null);
    Region a = allocate(alice, "a");
    Region b = allocate(bob, "b");
    ListFilter all = new ListFilter(null, null, null, null, 100);
    assertEquals(List.of(none), registry.list(all, alice, null, T0), "no tenant: only regions without one");
    assertEquals(List.of(a), registry.list(new ListFilter(null, "a", null, null, 100), alice, null, T0));
    assertEquals(List.of(), registry.list(new ListFilter(null, "a", null, bob, 100), bob, null, T0),
        "a holder filter does not widen the tenant");
    assertEquals(List.of(none, a, b), registry.list(all, alice, KEY, T0));
    assertEquals(List.of(b), registry.list(new ListFilter(null, "b", null, null, 100), alice, KEY, T0));

    assertEquals(ErrorCode.FORBIDDEN, code(() -> registry.list(all, alice, "wrong key, long enough", T0)));
    assertEquals(1, count(SecurityEvent.Kind.BAD_OPERATOR_KEY));
    registry.setOperatorKey(OperatorKey.none());
    assertEquals(ErrorCode.FORBIDDEN, code(() -> registry.list(all, alice, KEY, T0)),
        "a node without a key has no operators");
    assertEquals(2, count(SecurityEvent.Kind.BAD_OPERATOR_KEY));
  }

  @Test
  void missingIdsAreToldApartAsFreedStaleOrUnknown() {
    Region r = allocate(alice, null);
    registry.release(r.id(), alice, null, T0);
    registry.gc(T0 + 1);
    ShmException freed = assertThrows(ShmException.class, () -> registry.info(r.id(), alice, null, null, T0));
    assertEquals(ErrorCode.NOT_FOUND, freed.code());
    assertEquals(new ShmException.Atom("freed"), freed.extra().get("reason"));

    Region next = allocate(alice, null); // takes the freed slot (last in, first out)
    assertEquals(r.id() & 0xFFFFFF, next.id() & 0xFFFFFF, "same slot, newer generation");
    ShmException stale = assertThrows(ShmException.class,
        () -> registry.acquire(r.id(), bob, null, r.tokenText(), T0));
    assertEquals(new ShmException.Atom("stale_generation"), stale.extra().get("reason"));

    long forged = (next.generation() + 1000) << 24 | 5;
    ShmException unknown = assertThrows(ShmException.class, () -> registry.release(forged, alice, null, T0));
    assertEquals(new ShmException.Atom("unknown"), unknown.extra().get("reason"));

    assertEquals(1, count(SecurityEvent.Kind.FREED_ID));
    assertEquals(1, count(SecurityEvent.Kind.STALE_GENERATION));
    assertEquals(1, count(SecurityEvent.Kind.UNKNOWN_ID));
  }

  @Test
  void deniedCallsAreRecordedWithWhoWhichRegionAndWhichTenant() {
    Region r = allocate(alice, "a");
    assertThrows(ShmException.class, () -> registry.release(r.id(), bob, "a", T0 + 5));
    assertThrows(ShmException.class, () -> registry.free(r.id(), alice, null, T0 + 5));
    registry.free(r.id(), alice, "a", T0);
    assertEquals(ErrorCode.FORBIDDEN, code(() -> registry.acquire(r.id(), bob, "a", r.tokenText(), T0)));

    List<SecurityEvent> recent = registry.security().recent();
    assertEquals(3, recent.size());
    SecurityEvent notHolder = recent.get(0);
    assertEquals(SecurityEvent.Kind.NOT_HOLDER, notHolder.kind());
    assertEquals("release", notHolder.call());
    assertEquals(bob.toString(), notHolder.who());
    assertEquals(r.idText(), notHolder.regionId());
    assertEquals("a", notHolder.tenant());
    assertEquals(T0 + 5, notHolder.atMs());
    assertEquals(SecurityEvent.Kind.TENANT_DENIED, recent.get(1).kind());
    assertEquals(SecurityEvent.Kind.FREED_REGION, recent.get(2).kind());
    assertEquals(3, registry.security().total());
  }

  @Test
  void aSegmentFileChangedOrRemovedBehindTheNodesBackIsReportedOnce() throws IOException {
    Region r = allocate(alice, null);
    assertEquals(List.of(), registry.checkShmDir(100, T0));

    Files.setPosixFilePermissions(r.segment().path(), PosixFilePermissions.fromString("rw-r--r--"));
    List<String> problems = registry.checkShmDir(100, T0);
    assertEquals(1, problems.size(), problems.toString());
    assertTrue(problems.get(0).contains(r.segment().path() + " has mode 644"), problems.get(0));
    registry.checkShmDir(100, T0 + 1000);
    assertEquals(1, count(SecurityEvent.Kind.SHM_DIR), "a problem that persists is one event");

    Files.setPosixFilePermissions(r.segment().path(), PosixFilePermissions.fromString("rw-------"));
    assertEquals(List.of(), registry.checkShmDir(100, T0 + 2000));
    assertEquals(List.of(), registry.shmDirProblems());

    Files.delete(r.segment().path());
    problems = registry.checkShmDir(100, T0 + 3000);
    assertTrue(problems.get(0).contains("was removed by another process"), problems.toString());
    assertEquals(2, count(SecurityEvent.Kind.SHM_DIR));
    assertFalse(registry.shmDirProblems().isEmpty());
  }

  @Test
  void aHolderWithOnlyReadOnlyReferencesMayNotWriteThroughTheNode() {
    Region r = allocate(alice, null);
    registry.acquire(r.id(), bob, null, r.tokenText(), Access.READ_ONLY, T0);
    assertEquals(ErrorCode.FORBIDDEN, code(() -> registry.syncTarget(r.id(), bob, null, 0, 8, true, T0)));
    registry.syncTarget(r.id(), bob, null, 0, 8, false, T0); // reading is fine
    registry.syncTarget(r.id(), alice, null, 0, 8, true, T0); // the read_write holder writes
    assertEquals(1, count(SecurityEvent.Kind.READ_ONLY_WRITE));
    registry.acquire(r.id(), bob, null, r.tokenText(), Access.READ_WRITE, T0);
    registry.syncTarget(r.id(), bob, null, 0, 8, true, T0);
  }

  @Test
  void aSensitiveRegionIsZeroedEvenWhenZeroOnFreeIsNever() throws IOException {
    registry.configure(Map.of("zero_on_free", new ShmException.Atom("never")));
    for (long size : new long[] {4096, 2L << 20}) { // pooled and dedicated
      Region r = registry.allocate(new AllocateRequest(size, alice, null, null, true, 0, null, Access.READ_WRITE), T0);
      java.nio.file.Path file = r.segment().path();
      try (java.nio.channels.FileChannel ch = java.nio.channels.FileChannel.open(file,
          java.nio.file.StandardOpenOption.READ, java.nio.file.StandardOpenOption.WRITE)) {
        byte[] pattern = new byte[(int) size];
        java.util.Arrays.fill(pattern, (byte) 0x5A);
        ch.write(java.nio.ByteBuffer.wrap(pattern), r.payloadOffsetBytes());
        registry.release(r.id(), alice, null, T0);
        registry.gc(T0 + 1);
        java.nio.ByteBuffer after = java.nio.ByteBuffer.allocate((int) size);
        ch.read(after, r.payloadOffsetBytes()); // the handle opened before the free
        assertTrue(java.util.Arrays.equals(new byte[(int) size], after.array()), "zeros after free, size " + size);
      }
    }
  }

  @Test
  void endingASessionLeavesOtherTenantsRegionsAlone() {
    Region mine = registry.allocate(new AllocateRequest(100, alice, "s", "a", false, 0, null, Access.READ_WRITE), T0);
    Region open = registry.allocate(new AllocateRequest(100, alice, "s", null, false, 0, null, Access.READ_WRITE), T0);
    Region theirs = registry.allocate(new AllocateRequest(100, bob, "s", "b", false, 0, null, Access.READ_WRITE), T0);
    RegionRegistry.SessionRelease r = registry.releaseSession("s", alice, "a", null, T0);
    assertEquals(new RegionRegistry.SessionRelease(2, 1), r);
    assertEquals(Region.State.FREED, mine.state());
    assertEquals(Region.State.FREED, open.state());
    assertEquals(Region.State.LIVE, theirs.state());
    assertEquals(1, theirs.refcount());
    assertEquals(1, count(SecurityEvent.Kind.TENANT_DENIED));
    assertEquals(new RegionRegistry.SessionRelease(3, 0), registry.releaseSession("s", alice, null, KEY, T0),
        "an operator ends the whole session (the two already ended, in their grace period, count again)");
    assertEquals(Region.State.FREED, theirs.state());
  }

  @Test
  void aBlockBumpedOverEarlierHeadersAfterAResetStartsAsZeros() throws IOException {
    Region a = registry.allocate(new AllocateRequest(64, alice, null, null, false, 0, null, Access.READ_WRITE), T0);
    Region b = registry.allocate(new AllocateRequest(64, alice, null, null, false, 0, null, Access.READ_WRITE), T0);
    registry.release(a.id(), alice, null, T0);
    registry.release(b.id(), alice, null, T0);
    registry.tick(T0 + 1000); // both deallocated: the segment is empty and reset
    Region big = registry.allocate(new AllocateRequest(512, alice, null, null, false, 0, null, Access.READ_WRITE),
        T0 + 1000);
    assertEquals(a.segment(), big.segment(), "the same pooled segment, bumped from its start again");
    assertTrue(big.payloadOffsetBytes() < b.headerOffsetBytes()
        && b.headerOffsetBytes() < big.payloadOffsetBytes() + big.sizeBytes(), "spans the old header of b");
    try (java.nio.channels.FileChannel ch = java.nio.channels.FileChannel.open(big.segment().path(),
        java.nio.file.StandardOpenOption.READ)) {
      java.nio.ByteBuffer payload = java.nio.ByteBuffer.allocate(512);
      ch.read(payload, big.payloadOffsetBytes());
      assertTrue(java.util.Arrays.equals(new byte[512], payload.array()),
          "no byte of an earlier block's header shows through a new payload");
    }
  }
}

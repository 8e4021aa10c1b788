package io.snakepit.shm.registry;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.snakepit.shm.platform.Platforms;
import io.snakepit.shm.platform.SharedMemoryPlatform;
import io.snakepit.shm.segment.ManagerInstance;
import io.snakepit.shm.segment.RegionHeaderLayout;
import io.snakepit.shm.segment.SegmentHeaderLayout;
import io.snakepit.shm.segment.SegmentStore;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** The registry against real segments in a fresh /dev/shm directory. */
class RegionRegistryTest {
  private static final long T0 = 1_000_000;
  private final SharedMemoryPlatform platform = Platforms.forCurrentOs();
  private final Holder alice = new Holder.BeamProcess("alice");
  private final Holder bob = new Holder.BeamProcess("bob");
  private final List<String> events = new ArrayList<>();
  private ShmDirFixture shm;
  private RegionRegistry registry;

  @BeforeEach
  void setUp() throws IOException {
    shm = new ShmDirFixture("reg");
    registry = newRegistry(shm.dir, ShmConfig.defaults(1L << 30));
  }

  @AfterEach
  void tearDown() throws IOException {
    try {
      registry.shutdown();
    } finally {
      shm.close();
    }
  }

  private RegionRegistry newRegistry(Path dir, ShmConfig config) {
    long pid = platform.currentPid();
    ManagerInstance me = new ManagerInstance("test@host", pid, platform.processStartTicks(pid), 7, platform.bootId());
    return new RegionRegistry(new SegmentStore(platform, dir, me), config, new HolderListener() {
      @Override
      public void onFirstHold(Holder h) {
        events.add("link " + h);
      }

      @Override
      public void onLastRelease(Holder h) {
        events.add("unlink " + h);
      }
    });
  }

  private static AllocateRequest req(long size, Holder h) {
    return new AllocateRequest(size, h, null, null, false, 0, null, Access.READ_WRITE);
  }

  private static ByteBuffer read(Path file, long offset, int length) throws IOException {
    try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
      ByteBuffer b = ByteBuffer.allocate(length).order(ByteOrder.LITTLE_ENDIAN);
      ch.read(b, offset);
      return b.flip();
    }
  }

  @Test
  void smallRegionsShareAPooledSegmentWithAlignedPayloadAndAPublishedHeader() throws IOException {
    Region a = registry.allocate(req(1000, alice), T0);
    Region b = registry.allocate(req(10, alice), T0);
    assertEquals(a.segment(), b.segment());
    assertEquals(0, a.payloadOffsetBytes() % 64);
    assertEquals(0, b.payloadOffsetBytes() % 64);
    assertTrue(b.payloadOffsetBytes() >= a.payloadOffsetBytes() + 1000 + 64);
    assertEquals(1, registry.pooledSegmentCount());

    Path file = a.segment().path();
    assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(file)));
    ByteBuffer seg = read(file, 0, SegmentHeaderLayout.HEADER_BYTES);
    assertEquals(SegmentHeaderLayout.MAGIC, seg.getLong(0));
    assertEquals(1, seg.getInt(8));
    assertEquals(SegmentHeaderLayout.KIND_POOLED, seg.getInt(24));
    assertEquals(platform.currentPid(), seg.getLong(40));
    assertEquals("test@host", new String(seg.array(), 80, 9, java.nio.charset.StandardCharsets.UTF_8));

    ByteBuffer h = read(file, a.headerOffsetBytes(), 64);
    assertEquals(RegionHeaderLayout.MAGIC, h.getInt(0));
    assertEquals(RegionHeaderLayout.STATE_LIVE, h.getShort(6));
    assertEquals(a.id(), h.getLong(8));
    assertEquals(a.generation(), h.getLong(16));
    assertEquals(1000, h.getLong(24));
    assertEquals(a.payloadOffsetBytes(), h.getLong(32));
    assertEquals(List.of("link alice"), events);
  }

  @Test
  void largeRegionsGetADedicatedSegmentOfExactSize() throws IOException {
    long size = 3 * 1024 * 1024 + 5;
    Region r = registry.allocate(req(size, alice), T0);
    assertEquals(1, registry.dedicatedSegmentCount());
    assertEquals(320, r.payloadOffsetBytes());
    assertEquals(256 + 64 + RegionHeaderLayout.alignUp(size), Files.size(r.segment().path()));
    registry.release(r.id(), alice, null, T0);
    registry.tick(T0 + 100);
    assertFalse(Files.exists(r.segment().path()), "a dedicated segment goes with its region");
    assertEquals(0, registry.dedicatedSegmentCount());
  }

  @Test
  void aReleasedRegionIsDeallocatedOnlyAfterTheGracePeriod() throws IOException {
    Region r = registry.allocate(req(100, alice), T0);
    registry.release(r.id(), alice, null, T0 + 10);
    assertEquals(List.of("link alice", "unlink alice"), events);
    registry.tick(T0 + 109);
    assertEquals(r, registry.info(r.id(), null, null, null, T0), "still there inside the grace period");
    registry.tick(T0 + 110);
    ShmException e = assertThrows(ShmException.class, () -> registry.info(r.id(), null, null, null, T0));
    assertEquals(ErrorCode.NOT_FOUND, e.code());
    assertEquals(RegionHeaderLayout.STATE_FREED, read(r.segment().path(), r.headerOffsetBytes(), 64).getShort(6));
    assertEquals(0, registry.bytesInUse());
  }

  @Test
  void anAcquireInsideTheGracePeriodKeepsTheRegion() {
    Region r = registry.allocate(req(100, alice), T0);
    registry.release(r.id(), alice, null, T0);
    registry.acquire(r.id(), bob, null, r.tokenText(), T0 + 50);
    registry.tick(T0 + 500);
    assertEquals(1, registry.info(r.id(), null, null, null, T0).refcount());
    assertEquals(2, r.accessCount());
  }

  @Test
  void aDeadHolderLosesAllItsReferencesAndOthersKeepTheRegion() {
    Region r = registry.allocate(req(100, alice), T0);
    registry.acquire(r.id(), alice, null, r.tokenText(), T0);
    registry.acquire(r.id(), bob, null, r.tokenText(), T0);
    assertEquals(3, r.refcount());
    assertEquals(2, registry.dropHolder(alice, T0));
    registry.tick(T0 + 1000);
    assertEquals(Map.of(bob, 1), registry.info(r.id(), null, null, null, T0).holders());
    registry.dropHolder(bob, T0 + 1000);
    registry.tick(T0 + 1100);
    assertThrows(ShmException.class, () -> registry.info(r.id(), null, null, null, T0));
    assertEquals(0, registry.holderCount());
  }

  @Test
  void freeForbidsNewAcquiresAndOnlyAHolderMayFreeOrRelease() {
    Region r = registry.allocate(req(100, alice), T0);
    registry.acquire(r.id(), bob, null, r.tokenText(), T0);
    Holder carol = new Holder.BeamProcess("carol");
    assertEquals(ErrorCode.FORBIDDEN, assertThrows(ShmException.class,
        () -> registry.free(r.id(), carol, null, T0)).code());
    assertEquals(ErrorCode.FORBIDDEN, assertThrows(ShmException.class,
        () -> registry.release(r.id(), carol, null, T0)).code());
    registry.free(r.id(), alice, null, T0);
    assertEquals(Region.State.FREED, r.state());
    assertEquals(ErrorCode.FORBIDDEN, assertThrows(ShmException.class,
        () -> registry.acquire(r.id(), carol, null, r.tokenText(), T0)).code());
    registry.release(r.id(), bob, null, T0);
    registry.tick(T0 + 100);
    assertThrows(ShmException.class, () -> registry.info(r.id(), null, null, null, T0));
  }

  @Test
  void aTtlRegionGoesWhenItsTimeRunsOutEvenWhileHeld() {
    Region r = registry.allocate(new AllocateRequest(100, alice, null, null, false, 500, null, Access.READ_WRITE), T0);
    registry.tick(T0 + 499);
    assertEquals(1, registry.info(r.id(), null, null, null, T0).refcount());
    registry.tick(T0 + 500);
    assertEquals(ErrorCode.NOT_FOUND, assertThrows(ShmException.class, () -> registry.info(r.id(), null, null, null, T0)).code());
    assertEquals(List.of("link alice", "unlink alice"), events);
  }

  @Test
  void aHugeTtlNeverOverflowsIntoAnImmediateExpiry() {
    Region r = registry.allocate(new AllocateRequest(100, alice, null, null, false, Long.MAX_VALUE, null,
        Access.READ_WRITE), T0);
    registry.tick(T0 + 1_000_000_000L);
    assertEquals(1, registry.info(r.id(), null, null, null, T0).refcount());
  }

  @Test
  void releasingASessionDropsEveryReferenceToItsRegions() {
    Region s1 = registry.allocate(new AllocateRequest(100, alice, "s", null, false, 0, null, Access.READ_WRITE), T0);
    Region s2 = registry.allocate(new AllocateRequest(100, bob, "s", null, false, 0, null, Access.READ_WRITE), T0);
    Region other = registry.allocate(req(100, alice), T0);
    assertEquals(2, registry.releaseSession("s", T0));
    registry.tick(T0 + 100);
    assertThrows(ShmException.class, () -> registry.info(s1.id(), null, null, null, T0));
    assertThrows(ShmException.class, () -> registry.info(s2.id(), null, null, null, T0));
    assertEquals(1, registry.info(other.id(), null, null, null, T0).refcount());
    assertEquals(1, registry.list(new ListFilter(null, null, null, alice, 10), null, null, T0).size());
  }

  @Test
  void limitsAnswerLimitExceededWithTheLimitAndTheCurrentUse() {
    registry.configure(Map.of("max_regions", 2L, "max_holder_bytes", 1000L));
    registry.allocate(req(600, alice), T0);
    ShmException holder = assertThrows(ShmException.class, () -> registry.allocate(req(600, alice), T0));
    assertEquals(ErrorCode.LIMIT_EXCEEDED, holder.code());
    assertEquals(1000L, holder.extra().get("limit"));
    assertEquals(600L, holder.extra().get("current"));
    assertEquals(600L, holder.extra().get("requested"));
    registry.allocate(req(600, bob), T0);
    ShmException regions = assertThrows(ShmException.class, () -> registry.allocate(req(1, bob), T0));
    assertEquals(new ShmException.Atom("max_regions"), regions.extra().get("limit_name"));
    registry.configure(Map.of("max_regions", 100L, "max_total_bytes", 1500L));
    ShmException total = assertThrows(ShmException.class, () -> registry.allocate(req(400, bob), T0));
    assertEquals(new ShmException.Atom("max_total_bytes"), total.extra().get("limit_name"));
    assertEquals(2, registry.regionCount(), "a refused allocation changes nothing");
  }

  private static long fileCount(Path dir) {
    try (var files = Files.list(dir)) {
      return files.count();
    } catch (IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
  }

  /** Runs {@code body} with a registry on a fresh tmpfs of {@code size} (root only), cleaned up after. */
  private void withSmallTmpfs(String size, java.util.function.BiConsumer<RegionRegistry, Path> body)
      throws Exception {
    Path mount = Files.createTempDirectory("snktest-tmpfs");
    Process p = new ProcessBuilder("mount", "-t", "tmpfs", "-o", "size=" + size + ",mode=0700", "tmpfs",
        mount.toString()).redirectErrorStream(true).start();
    org.junit.jupiter.api.Assumptions.assumeTrue(p.waitFor() == 0, "needs root to mount a tmpfs");
    try {
      RegionRegistry small = newRegistry(mount, ShmConfig.defaults(64L << 20));
      try {
        body.accept(small, mount);
      } finally {
        small.shutdown();
      }
    } finally {
      new ProcessBuilder("umount", mount.toString()).start().waitFor();
      Files.deleteIfExists(mount);
    }
  }

  @Test
  void aFullTmpfsAnswersNoSpaceAtOnceAndLeavesNothingBehind() throws Exception {
    withSmallTmpfs("2m", (small, mount) -> {
      ShmException e = assertThrows(ShmException.class, () -> small.allocate(req(8L << 20, alice), T0));
      assertEquals(ErrorCode.NO_SPACE, e.code());
      assertTrue(e.remediation().contains("--shm-size"), e.remediation());
      assertTrue(e.getMessage().contains(mount.toString()), e.getMessage());
      assertEquals(0, fileCount(mount), "the failed segment was removed");
      assertEquals(1000, small.allocate(req(1000, alice), T0).sizeBytes());
    });
  }

  @Test
  void anOsProcessHolderIsDroppedWhenItsProcessEnds() throws Exception {
    Process sleeper = new ProcessBuilder("sleep", "60").start();
    try {
      long pid = sleeper.pid();
      Holder h = new Holder.OsProcess(pid, platform.processStartTicks(pid));
      Region r = registry.allocate(req(100, h), T0);
      registry.tick(T0 + 1000);
      assertEquals(1, registry.info(r.id(), null, null, null, T0).refcount());
      sleeper.destroyForcibly().waitFor();
      registry.tick(T0 + 2000);
      assertEquals(0, registry.info(r.id(), null, null, null, T0).refcount());
      registry.tick(T0 + 2100);
      assertThrows(ShmException.class, () -> registry.info(r.id(), null, null, null, T0));
    } finally {
      sleeper.destroyForcibly();
    }
  }

  @Test
  void sensitiveBytesAreZeroedForEveryMapperBeforeTheMemoryGoes() throws IOException {
    Region r = registry.allocate(new AllocateRequest(5 << 20, alice, null, null, true, 0, null, Access.READ_WRITE), T0);
    try (FileChannel ch = FileChannel.open(r.segment().path(), StandardOpenOption.READ, StandardOpenOption.WRITE)) {
      byte[] secret = "top secret".getBytes();
      ch.write(ByteBuffer.wrap(secret), r.payloadOffsetBytes());
      registry.release(r.id(), alice, null, T0);
      registry.tick(T0 + 100);
      assertFalse(Files.exists(r.segment().path()));
      ByteBuffer after = ByteBuffer.allocate(secret.length);
      ch.read(after, r.payloadOffsetBytes());
      assertArrayEquals(new byte[secret.length], after.array(), "read through a handle opened before the free");
    }
  }

  @Test
  void pooledMemoryIsZeroBeforeItIsReused() throws IOException {
    Region a = registry.allocate(req(4096, alice), T0);
    try (FileChannel ch = FileChannel.open(a.segment().path(), StandardOpenOption.READ, StandardOpenOption.WRITE)) {
      ch.write(ByteBuffer.wrap(new byte[] {1, 2, 3, 4}), a.payloadOffsetBytes());
      registry.release(a.id(), alice, null, T0);
      registry.tick(T0 + 100);
      Region b = registry.allocate(req(4096, bob), T0 + 100);
      assertEquals(a.payloadOffsetBytes(), b.payloadOffsetBytes(), "the same block");
      assertNotEquals(a.generation(), b.generation());
      ByteBuffer got = ByteBuffer.allocate(4);
      ch.read(got, b.payloadOffsetBytes());
      assertArrayEquals(new byte[4], got.array());
    }
  }

  @Test
  void aBatchAllocatesEverySizeOrNothing() {
    List<Region> made = registry.allocateMany(new long[] {100, 2 << 20, 5000}, req(0, alice), T0);
    assertEquals(3, made.size());
    assertEquals(List.of(100L, 2L << 20, 5000L), made.stream().map(Region::sizeBytes).toList());
    assertEquals(3, registry.regionCount());
    registry.configure(Map.of("max_regions", 5L));
    ShmException tooMany = assertThrows(ShmException.class,
        () -> registry.allocateMany(new long[] {1, 1, 1}, req(0, alice), T0));
    assertEquals(ErrorCode.LIMIT_EXCEEDED, tooMany.code());
    ShmException bad = assertThrows(ShmException.class,
        () -> registry.allocateMany(new long[] {1, -1}, req(0, alice), T0));
    assertEquals(1L, bad.extra().get("index"));
    assertEquals(3, registry.regionCount(), "refused batches change nothing");
  }

  @Test
  void aBatchThatRunsOutOfSpaceHalfwayGivesBackWhatItMade() throws Exception {
    withSmallTmpfs("4m", (small, mount) -> {
      ShmException e = assertThrows(ShmException.class,
          () -> small.allocateMany(new long[] {(1 << 20) + 1, (1 << 20) + 1, 3 << 20}, req(0, alice), T0));
      assertEquals(ErrorCode.NO_SPACE, e.code());
      assertEquals(2L, e.extra().get("index"));
      assertEquals(0, small.regionCount());
      assertEquals(0, fileCount(mount), "the dedicated segments of the batch are gone");
    });
  }

  @Test
  void aBatchReleaseChecksEveryIdFirstAndCountsRepeats() {
    Region a = registry.allocate(req(100, alice), T0);
    Region b = registry.allocate(req(100, alice), T0);
    registry.acquire(a.id(), alice, null, a.tokenText(), T0);
    ShmException e = assertThrows(ShmException.class,
        () -> registry.releaseMany(new long[] {a.id(), b.id(), b.id()}, alice, null, T0));
    assertEquals(ErrorCode.FORBIDDEN, e.code());
    assertEquals(2L, e.extra().get("index"));
    assertEquals(2, a.refcount(), "nothing released");
    assertEquals(3, registry.releaseMany(new long[] {a.id(), a.id(), b.id()}, alice, null, T0));
    assertEquals(0, a.refcount());
    assertEquals(0, b.refcount());
  }

  private static void overwrite(Path file, long offset, byte[] bytes) throws IOException {
    try (FileChannel ch = FileChannel.open(file, StandardOpenOption.WRITE)) {
      ch.write(ByteBuffer.wrap(bytes), offset);
    }
  }

  @Test
  void aCorruptHeaderIsCaughtOnAcquireAndTheRegionIsIsolated() throws IOException {
    Region r = registry.allocate(req(1000, alice), T0);
    overwrite(r.segment().path(), r.headerOffsetBytes() + 16, new byte[] {42});
    ShmException e = assertThrows(ShmException.class, () -> registry.acquire(r.id(), bob, null, r.tokenText(), T0));
    assertEquals(ErrorCode.INVALID_REGION, e.code());
    assertEquals(Region.State.INVALID, registry.info(r.id(), null, null, null, T0).state());
    assertEquals(RegionHeaderLayout.STATE_INVALID, read(r.segment().path(), r.headerOffsetBytes(), 64).getShort(6));
    assertEquals(1, registry.invalidLiveCount());
    assertTrue(registry.invalidRegions().get(0).reason().contains("CRC"), registry.invalidRegions().toString());
    assertEquals(ErrorCode.INVALID_REGION,
        assertThrows(ShmException.class, () -> registry.acquire(r.id(), bob, null, r.tokenText(), T0)).code());
  }

  @Test
  void thePeriodicCheckFindsCorruptionNobodyAskedAbout() throws IOException {
    Region ok = registry.allocate(req(100, alice), T0);
    Region bad = registry.allocate(req(100, alice), T0);
    overwrite(bad.segment().path(), bad.headerOffsetBytes(), new byte[] {0, 0, 0, 0});
    registry.tick(T0 + 5_000);
    assertEquals(Region.State.INVALID, bad.state());
    assertEquals(Region.State.LIVE, ok.state());
    assertTrue(registry.headersChecked() >= 2);
    assertTrue(registry.invalidRegions().get(0).reason().contains("periodic"));
  }

  @Test
  void theBlockOfAnInvalidRegionIsNeverHandedOutAgain() throws IOException {
    Region bad = registry.allocate(req(1000, alice), T0);
    overwrite(bad.segment().path(), bad.headerOffsetBytes() + 24, new byte[] {1});
    registry.tick(T0 + 5_000);
    registry.release(bad.id(), alice, null, T0 + 5_000);
    registry.tick(T0 + 6_000);
    assertEquals(0, registry.invalidLiveCount());
    Region next = registry.allocate(req(1000, alice), T0 + 6_000);
    assertNotEquals(bad.headerOffsetBytes(), next.headerOffsetBytes());
  }

  @Test
  void sessionAndTenantBudgetsAreEnforcedAndGiveBackOnFree() {
    registry.configure(Map.of("max_session_bytes", 1000L, "max_tenant_bytes", 1500L));
    Region a = registry.allocate(new AllocateRequest(800, alice, "s1", "t1", false, 0, null, Access.READ_WRITE), T0);
    ShmException session = assertThrows(ShmException.class, () -> registry.allocate(
        new AllocateRequest(300, alice, "s1", "t1", false, 0, null, Access.READ_WRITE), T0));
    assertEquals(new ShmException.Atom("max_session_bytes"), session.extra().get("limit_name"));
    assertEquals("s1", session.extra().get("session"));
    registry.allocate(new AllocateRequest(600, alice, "s2", "t1", false, 0, null, Access.READ_WRITE), T0);
    ShmException tenant = assertThrows(ShmException.class, () -> registry.allocateMany(new long[] {50, 60},
        new AllocateRequest(0, alice, "s3", "t1", false, 0, null, Access.READ_WRITE), T0));
    assertEquals(new ShmException.Atom("max_tenant_bytes"), tenant.extra().get("limit_name"));
    assertEquals(1400L, tenant.extra().get("current"));
    registry.release(a.id(), alice, "t1", T0);
    registry.tick(T0 + 100);
    registry.allocate(new AllocateRequest(300, alice, "s1", "t1", false, 0, null, Access.READ_WRITE), T0 + 100);
    assertEquals(900L, registry.bytesByTenant().get("t1"));
  }

  @Test
  void shutdownRemovesEverySegment() throws IOException {
    registry.allocate(req(100, alice), T0);
    registry.allocate(req(2 << 20, alice), T0);
    assertEquals(2, shm.fileCount());
    registry.shutdown();
    assertEquals(0, shm.fileCount());
  }

  @Test
  void emptyPooledSegmentsAreReleasedAfterTheIdleTime() throws IOException {
    Region r = registry.allocate(req(100, alice), T0);
    registry.release(r.id(), alice, null, T0);
    registry.gc(T0);
    assertEquals(0, registry.pooledSegmentCount());
    assertEquals(0, shm.fileCount());
  }
}

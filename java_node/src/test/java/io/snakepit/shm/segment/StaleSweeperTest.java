package io.snakepit.shm.segment;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.snakepit.shm.platform.OsFamily;
import io.snakepit.shm.platform.PlatformText;
import io.snakepit.shm.platform.Platforms;
import io.snakepit.shm.platform.PretendPlatform;
import io.snakepit.shm.platform.SharedMemoryPlatform;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** The stale sweep against real segment files and real (live and dead) processes. */
class StaleSweeperTest {
  private final SharedMemoryPlatform platform = Platforms.forCurrentOs();
  private final List<Process> children = new ArrayList<>();
  private Path dir;
  private ManagerInstance self;

  @BeforeEach
  void setUp() throws IOException {
    dir = Path.of("/dev/shm", "snktest-sweep-" + Long.toHexString(new SecureRandom().nextLong()));
    Files.createDirectory(dir);
    long pid = platform.currentPid();
    self = new ManagerInstance("me@h", pid, platform.processStartTicks(pid), 1, platform.bootId());
  }

  @AfterEach
  void tearDown() throws IOException {
    for (Process p : children) {
      p.destroyForcibly();
    }
    try (Stream<Path> s = Files.list(dir)) {
      for (Path p : (Iterable<Path>) s::iterator) {
        Files.delete(p);
      }
    }
    Files.delete(dir);
  }

  private ManagerInstance deadManager() throws Exception {
    Process p = new ProcessBuilder("sleep", "30").start();
    long pid = p.pid();
    long ticks = platform.processStartTicks(pid);
    p.destroyForcibly().waitFor();
    return new ManagerInstance("dead@h", pid, ticks, 2, platform.bootId());
  }

  private ManagerInstance liveManager() throws IOException {
    Process p = new ProcessBuilder("sleep", "30").start();
    children.add(p);
    return new ManagerInstance("live@h", p.pid(), platform.processStartTicks(p.pid()), 3, platform.bootId());
  }

  private Segment segmentOf(ManagerInstance owner) {
    SegmentStore store = new SegmentStore(platform, dir, owner);
    Segment s = store.create(SegmentHeaderLayout.KIND_POOLED, 8192, 8192, 8192, 0);
    platform.unmap(s.mapping());
    return s;
  }

  private long files() throws IOException {
    try (Stream<Path> s = Files.list(dir)) {
      return s.count();
    }
  }

  @Test
  void segmentsOfADeadManagerAreReclaimedAndThoseOfLiveOnesAndOursKept() throws Exception {
    Segment dead = segmentOf(deadManager());
    Segment live = segmentOf(liveManager());
    Segment ours = segmentOf(self);
    StaleSweeper.Result r = new StaleSweeper(platform, dir, self).sweep(false);
    assertEquals(3, r.scanned());
    assertEquals(1, r.reclaimed());
    assertEquals(1, r.live());
    assertEquals(1, r.own());
    assertFalse(Files.exists(dead.path()));
    assertTrue(Files.exists(live.path()));
    assertTrue(Files.exists(ours.path()));
  }

  @Test
  void whereSegmentsAreNotFilesTheSweepListsNothingAndSaysWhyInsteadOfReportingZero() throws Exception {
    Segment dead = segmentOf(deadManager());
    assertTrue(new StaleSweeper(platform, dir, self).sweep(true).listed());
    for (OsFamily family : List.of(OsFamily.MACOS, OsFamily.WINDOWS)) {
      StaleSweeper sweeper = new StaleSweeper(new PretendPlatform(family), dir, self);
      StaleSweeper.Result r = sweeper.sweep(false);
      assertFalse(r.listed(), family.toString());
      assertEquals(PlatformText.segmentListingUnavailable(family), r.unavailable());
      assertEquals(r.unavailable(), sweeper.unavailableReason());
      assertEquals(0, r.scanned());
      assertEquals(0, r.reclaimed());
      // the dir was not looked at: even a file of a dead manager that is there stays
      assertTrue(Files.exists(dead.path()), family.toString());
      assertFalse(sweeper.sweep(false).listed(), "again, without logging it at INFO again");
    }
    assertEquals(1, new StaleSweeper(platform, dir, self).sweep(false).reclaimed());
  }

  @Test
  void aReusedPidOrAnotherBootMeansDead() throws Exception {
    ManagerInstance live = liveManager();
    ManagerInstance reused = new ManagerInstance("old@h", live.osPid(), live.startTicks() - 1, 4, live.bootId());
    byte[] otherBoot = platform.bootId();
    otherBoot[0] ^= 1;
    ManagerInstance earlierBoot = new ManagerInstance("boot@h", live.osPid(), live.startTicks(), 5, otherBoot);
    segmentOf(reused);
    segmentOf(earlierBoot);
    StaleSweeper s = new StaleSweeper(platform, dir, self);
    assertTrue(s.deathOf(reused, platform.bootId()).contains("another process"));
    assertTrue(s.deathOf(earlierBoot, platform.bootId()).contains("earlier boot"));
    assertEquals(2, s.sweep(false).reclaimed());
    assertEquals(0, files());
  }

  @Test
  void aHeaderlessFileIsLeftWhileItMayBeInCreationAndReclaimedOnceItsCreatorIsGone() throws IOException {
    Path young = dir.resolve(new SegmentNames().newFileName());
    Files.write(young, new byte[300]);
    Path orphan = dir.resolve(new SegmentNames().newFileName());
    Files.write(orphan, new byte[300]);
    Files.setLastModifiedTime(orphan, java.nio.file.attribute.FileTime.fromMillis(System.currentTimeMillis() - 60_000));
    Path creating = dir.resolve(new SegmentNames().newFileName());
    Files.write(creating, new byte[300]);
    Files.setLastModifiedTime(creating, java.nio.file.attribute.FileTime.fromMillis(System.currentTimeMillis() - 60_000));
    int creator = platform.openExisting(dir, creating.getFileName().toString(), true);
    Path other = dir.resolve("not-a-segment");
    Files.write(other, new byte[10]);
    try {
      assertTrue(platform.tryLock(creator, SegmentStore.CREATION_LOCK_OFFSET, 1, true, "creator"));
      StaleSweeper.Result r = new StaleSweeper(platform, dir, self).sweep(false);
      assertEquals(3, r.scanned());
      assertEquals(1, r.reclaimed(), "only the old, unlocked one");
      assertEquals(2, r.unreadable());
      assertTrue(Files.exists(young), "too young: its creator may not have locked it yet");
      assertTrue(Files.exists(creating), "its creator holds the creation lock");
      assertFalse(Files.exists(orphan));
      assertTrue(Files.exists(other));
    } finally {
      platform.close(creator);
    }
  }

  @Test
  void aDryRunChangesNothing() throws Exception {
    Segment dead = segmentOf(deadManager());
    StaleSweeper.Result r = new StaleSweeper(platform, dir, self).sweep(true);
    assertEquals(1, r.reclaimed());
    assertTrue(r.dryRun());
    assertTrue(Files.exists(dead.path()));
  }

  @Test
  void aProcessThatStillMapsAReclaimedSegmentReadsZeros() throws Exception {
    Segment dead = segmentOf(deadManager());
    try (FileChannel ch = FileChannel.open(dead.path(), StandardOpenOption.READ, StandardOpenOption.WRITE)) {
      ch.write(ByteBuffer.wrap("secret".getBytes()), 4096);
      new StaleSweeper(platform, dir, self).sweep(false);
      ByteBuffer got = ByteBuffer.allocate(6);
      ch.read(got, 4096);
      assertArrayEquals(new byte[6], got.array());
    }
  }

  @Test
  void twoSweepsRacingReclaimEverySegmentExactlyOnce() throws Exception {
    ManagerInstance dead = deadManager();
    for (int i = 0; i < 400; i++) {
      segmentOf(dead);
    }
    ExecutorService pool = Executors.newFixedThreadPool(2);
    try {
      Future<StaleSweeper.Result> a = pool.submit(() -> new StaleSweeper(platform, dir, self).sweep(false));
      Future<StaleSweeper.Result> b = pool.submit(() -> new StaleSweeper(platform, dir, self).sweep(false));
      assertEquals(400, a.get().reclaimed() + b.get().reclaimed());
    } finally {
      pool.shutdownNow();
    }
    assertEquals(0, files());
  }
}

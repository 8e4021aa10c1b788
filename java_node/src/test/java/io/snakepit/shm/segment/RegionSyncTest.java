package io.snakepit.shm.segment;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.snakepit.shm.platform.Platforms;
import io.snakepit.shm.platform.SharedMemoryPlatform;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.SecureRandom;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** The write lock and seqlock of docs/SYNC.md on a real segment file. */
class RegionSyncTest {
  private static final long HEADER = 256;
  private static final long PAYLOAD = HEADER + 64;
  private final SharedMemoryPlatform platform = Platforms.forCurrentOs();
  private Path dir;
  private SegmentStore store;
  private Segment segment;
  private RegionSync sync;
  private int otherFd = -1;

  @BeforeEach
  void setUp() throws IOException {
    dir = Files.createDirectory(Path.of("/dev/shm", "snktest-sync-" + Long.toHexString(new SecureRandom().nextLong())));
    long pid = platform.currentPid();
    store = new SegmentStore(platform, dir, new ManagerInstance("t@h", pid, platform.processStartTicks(pid), 1,
        platform.bootId()));
    segment = store.create(SegmentHeaderLayout.KIND_POOLED, 1 << 16, 1 << 16, 1 << 16, 0);
    segment.access(HEADER, 64, (m, at, len) -> RegionHeaderLayout.writeLive(m, at, 1, 1, 4096, PAYLOAD, 0, 0));
    sync = new RegionSync(segment, HEADER);
  }

  @AfterEach
  void tearDown() throws IOException {
    if (otherFd >= 0) {
      platform.close(otherFd);
    }
    store.destroy(segment);
    Files.delete(dir);
  }

  /** Another open file description of the same file, as another process would have. */
  private int otherOpen() {
    otherFd = platform.openExisting(dir, segment.fileName(), true);
    return otherFd;
  }

  @Test
  void theWriteLockExcludesAnotherOpenFileDescriptionUntilReleased() {
    int other = otherOpen();
    assertTrue(sync.tryLockWrite());
    assertFalse(platform.tryLock(other, HEADER, 1, true, "other"));
    assertTrue(platform.isWriteLockedByOthers(other, HEADER, 1, "other"));
    assertTrue(platform.tryLock(other, HEADER + 64 * 10, 1, true, "other"), "another region's byte is free");
    sync.unlockWrite();
    assertTrue(platform.tryLock(other, HEADER, 1, true, "other"));
    assertFalse(sync.tryLockWrite());
  }

  @Test
  void aConsistentWriteIsReadBackAndMovesTheCounterByTwo() {
    assertTrue(sync.tryLockWrite());
    assertFalse(sync.writeLocked(PAYLOAD, "hello".getBytes()));
    sync.unlockWrite();
    assertEquals(2, sync.writeSeq());
    byte[] got = new byte[5];
    assertEquals(RegionSync.ReadOutcome.DONE, sync.tryReadConsistent(PAYLOAD, got));
    assertArrayEquals("hello".getBytes(), got);
  }

  @Test
  void anOddCounterMeansAWriterIsBusyOrDiedMidWrite() {
    segment.access(HEADER, 64, (m, at, len) -> m.putIntRelease(at + RegionHeaderLayout.WRITE_SEQ_OFFSET, 7));
    byte[] got = new byte[5];
    assertEquals(RegionSync.ReadOutcome.TORN, sync.tryReadConsistent(PAYLOAD, got), "odd and nobody holds the lock");
    int other = otherOpen();
    assertTrue(platform.tryLock(other, HEADER, 1, true, "other"));
    assertEquals(RegionSync.ReadOutcome.RETRY, sync.tryReadConsistent(PAYLOAD, got), "odd while a writer works");
    platform.unlock(other, HEADER, 1, "other");
    assertTrue(sync.tryLockWrite());
    assertTrue(sync.writeLocked(PAYLOAD, "fixed".getBytes()), "the next write repairs a torn region");
    sync.unlockWrite();
    assertEquals(8, sync.writeSeq());
    assertEquals(RegionSync.ReadOutcome.DONE, sync.tryReadConsistent(PAYLOAD, got));
  }
}

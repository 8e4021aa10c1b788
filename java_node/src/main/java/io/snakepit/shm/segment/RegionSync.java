package io.snakepit.shm.segment;

import java.lang.invoke.VarHandle;

/**
 * The cross-process protocol of docs/SYNC.md for one region: the write lock (an OFD lock on
 * the first byte of the region header) and the seqlock counter {@code write_seq} (u32 at
 * region-header offset 60). Non-blocking: the caller decides how to wait.
 *
 * <p>Thread-safety: none; used by the registry's owner thread. The manager holds one open
 * file description per segment, so its locks exclude every other process's.
 */
public final class RegionSync {
  /** What a consistent read found. */
  public enum ReadOutcome {
    /** The bytes were copied and are consistent. */
    DONE,
    /** A writer holds the lock (or raced the copy): try again later. */
    RETRY,
    /** The counter is odd and nobody holds the lock: a writer died mid-write. */
    TORN
  }

  private final Segment segment;
  private final long headerOffset;

  public RegionSync(Segment segment, long headerOffsetBytes) {
    this.segment = segment;
    this.headerOffset = headerOffsetBytes;
  }

  /** Takes the region's write lock if it is free; true when taken. */
  public boolean tryLockWrite() {
    return segment.platform().tryLock(segment.fd(), headerOffset, 1, true, segment.fileName());
  }

  public void unlockWrite() {
    segment.platform().unlock(segment.fd(), headerOffset, 1, segment.fileName());
  }

  /** The counter now (acquire load). */
  public int writeSeq() {
    int[] seq = new int[1];
    segment.access(headerOffset, RegionHeaderLayout.HEADER_BYTES,
        (m, at, len) -> seq[0] = m.getIntAcquire(at + RegionHeaderLayout.WRITE_SEQ_OFFSET));
    return seq[0];
  }

  /**
   * Writes {@code data} at {@code payloadOffset} of the file under the seqlock: counter to
   * odd, store-store fence, bytes, counter to even with a release store. The caller holds
   * the write lock. Returns true when the previous writer had died mid-write (odd counter).
   */
  public boolean writeLocked(long payloadOffset, byte[] data) {
    boolean[] repaired = new boolean[1];
    segment.access(headerOffset, RegionHeaderLayout.HEADER_BYTES, (m, at, len) -> {
      int s = m.getIntAcquire(at + RegionHeaderLayout.WRITE_SEQ_OFFSET);
      repaired[0] = (s & 1) != 0;
      int odd = s | 1;
      m.putIntRelease(at + RegionHeaderLayout.WRITE_SEQ_OFFSET, odd);
      VarHandle.storeStoreFence();
      copyIn(payloadOffset, data);
      VarHandle.storeStoreFence();
      m.putIntRelease(at + RegionHeaderLayout.WRITE_SEQ_OFFSET, odd + 1);
    });
    return repaired[0];
  }

  private void copyIn(long fileOffset, byte[] data) {
    int[] done = new int[1];
    segment.access(fileOffset, data.length, (m, at, len) -> {
      m.putBytes(at, data, done[0], (int) len);
      done[0] += (int) len;
    });
  }

  /**
   * One attempt at a consistent read of {@code dst.length} bytes at {@code payloadOffset}
   * without the lock: counter (acquire), copy, load-load fence, counter again.
   */
  public ReadOutcome tryReadConsistent(long payloadOffset, byte[] dst) {
    int s1 = writeSeq();
    if ((s1 & 1) != 0) {
      boolean writerAlive = segment.platform().isWriteLockedByOthers(segment.fd(), headerOffset, 1,
          segment.fileName());
      // a live writer stores the even value just before it unlocks: only a counter that is
      // still the same odd value after "nobody holds the lock" means a writer died
      return writerAlive || writeSeq() != s1 ? ReadOutcome.RETRY : ReadOutcome.TORN;
    }
    int[] done = new int[1];
    segment.access(payloadOffset, dst.length, (m, at, len) -> {
      m.getBytes(at, dst, done[0], (int) len);
      done[0] += (int) len;
    });
    VarHandle.loadLoadFence();
    return writeSeq() == s1 ? ReadOutcome.DONE : ReadOutcome.RETRY;
  }
}

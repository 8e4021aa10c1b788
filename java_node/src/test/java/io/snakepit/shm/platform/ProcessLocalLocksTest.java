package io.snakepit.shm.platform;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/** The in-process lock table of macOS and Windows, with the semantics of per-descriptor locks. */
class ProcessLocalLocksTest {
  private static final String SEG = "/snkseg";
  private final ProcessLocalLocks locks = new ProcessLocalLocks();

  @Test
  void anExclusiveLockExcludesEveryOtherDescriptor() {
    assertTrue(locks.tryLock(SEG, 3, 0, 1, true));

    assertFalse(locks.tryLock(SEG, 4, 0, 1, true));
    assertFalse(locks.tryLock(SEG, 4, 0, 1, false));
    assertTrue(locks.isWriteLockedByOtherOwner(SEG, 4, 0, 1));
    assertFalse(locks.isWriteLockedByOtherOwner(SEG, 3, 0, 1), "one's own lock is not another's");
  }

  @Test
  void sharedLocksCoexistButExcludeAnExclusiveOne() {
    assertTrue(locks.tryLock(SEG, 3, 100, 10, false));
    assertTrue(locks.tryLock(SEG, 4, 105, 10, false));

    assertFalse(locks.tryLock(SEG, 5, 109, 1, true));
    assertFalse(locks.isWriteLockedByOtherOwner(SEG, 5, 100, 20));
  }

  @Test
  void rangesThatDoNotOverlapDoNotConflict() {
    assertTrue(locks.tryLock(SEG, 3, 0, 64, true));

    assertTrue(locks.tryLock(SEG, 4, 64, 64, true));
    assertTrue(locks.tryLock("/snkother", 4, 0, 64, true), "another object");
  }

  @Test
  void aDescriptorMayRelockItsOwnRangeChangingItsType() {
    assertTrue(locks.tryLock(SEG, 3, 0, 8, true));
    assertTrue(locks.tryLock(SEG, 3, 0, 8, false));

    assertTrue(locks.tryLock(SEG, 4, 0, 8, false), "downgraded to shared");
    assertEquals(2, locks.size());
  }

  @Test
  void unlockingTheMiddleKeepsBothEnds() {
    assertTrue(locks.tryLock(SEG, 3, 0, 30, true));
    locks.unlock(SEG, 3, 10, 10);

    assertTrue(locks.tryLock(SEG, 4, 10, 10, true));
    assertFalse(locks.tryLock(SEG, 5, 9, 1, true));
    assertFalse(locks.tryLock(SEG, 5, 20, 1, true));
  }

  @Test
  void unlockingOnlyDropsTheCallersLocks() {
    assertTrue(locks.tryLock(SEG, 3, 0, 1, false));
    assertTrue(locks.tryLock(SEG, 4, 0, 1, false));
    locks.unlock(SEG, 4, 0, 1);

    assertFalse(locks.tryLock(SEG, 5, 0, 1, true));
    locks.unlock(SEG, 3, 0, 1);
    assertTrue(locks.tryLock(SEG, 5, 0, 1, true));
  }

  @Test
  void closingADescriptorDropsAllItsLocks() {
    assertTrue(locks.tryLock(SEG, 3, 0, 1, true));
    assertTrue(locks.tryLock("/snkother", 3, 4096, 1, true));
    assertTrue(locks.tryLock(SEG, 4, 8, 1, true));

    locks.releaseAll(3);

    assertEquals(1, locks.size());
    assertTrue(locks.tryLock(SEG, 5, 0, 1, true));
    assertTrue(locks.tryLock("/snkother", 5, 4096, 1, true));
    assertFalse(locks.tryLock(SEG, 5, 8, 1, true));
  }

  @Test
  void aZeroLengthMeansToTheEnd() {
    assertTrue(locks.tryLock(SEG, 3, 4096, 0, true));

    assertFalse(locks.tryLock(SEG, 4, Long.MAX_VALUE - 1, 1, true));
    assertTrue(locks.tryLock(SEG, 4, 0, 4096, true));
  }

  @Test
  void negativeRangesAreRefused() {
    assertThrows(IllegalArgumentException.class, () -> locks.tryLock(SEG, 3, -1, 1, true));
    assertThrows(IllegalArgumentException.class, () -> locks.unlock(SEG, 3, 0, -1));
  }
}

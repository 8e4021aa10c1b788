package io.snakepit.shm.platform;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/** The size-once rule of macOS shm objects and Windows sections, and the range check of reserve. */
class SizeOnceTest {
  private static final long PAGE = 16384;

  @Test
  void anUnsizedObjectIsSized() {
    assertTrue(SizeOnce.needsSizing(0, 100, PAGE, "macOS", "/snkx"));
    assertTrue(SizeOnce.needsSizing(0, 1, 1, "Windows", "Local\\snkx"));
  }

  @Test
  void askingAgainForTheRoundedSizeItHasDoesNothing() {
    // macOS rounded 100 bytes up to one 16 KiB page when it sized the object
    assertFalse(SizeOnce.needsSizing(PAGE, 100, PAGE, "macOS", "/snkx"));
    assertFalse(SizeOnce.needsSizing(PAGE, PAGE, PAGE, "macOS", "/snkx"));
    assertFalse(SizeOnce.needsSizing(4097, 4097, 1, "Windows", "Local\\snkx"));
  }

  @Test
  void anyOtherSizeIsRefusedWithTheReason() {
    PlatformException grow = assertThrows(PlatformException.class,
        () -> SizeOnce.needsSizing(PAGE, PAGE + 1, PAGE, "macOS", "/snkx"));
    PlatformException shrink = assertThrows(PlatformException.class,
        () -> SizeOnce.needsSizing(8192, 4096, 1, "Windows", "Local\\snkx"));

    assertEquals(PlatformException.EINVAL, grow.errno());
    assertEquals("ftruncate", grow.call());
    assertEquals("/snkx", grow.name());
    assertTrue(grow.strerror().contains("macOS sizes a shared-memory object only once"), grow.strerror());
    assertTrue(grow.strerror().contains("already has 16384 bytes, 16385 were asked for"), grow.strerror());
    assertTrue(shrink.strerror().startsWith("Windows sizes"), shrink.strerror());
  }

  @Test
  void sizesMustBePositive() {
    assertThrows(IllegalArgumentException.class, () -> SizeOnce.needsSizing(0, 0, PAGE, "macOS", "/snkx"));
    assertThrows(IllegalArgumentException.class, () -> SizeOnce.needsSizing(0, -1, 1, "Windows", "Local\\snkx"));
  }

  @Test
  void roundUpToWholeUnits() {
    assertEquals(0, SizeOnce.roundUp(0, PAGE));
    assertEquals(PAGE, SizeOnce.roundUp(1, PAGE));
    assertEquals(PAGE, SizeOnce.roundUp(PAGE, PAGE));
    assertEquals(2 * PAGE, SizeOnce.roundUp(PAGE + 1, PAGE));
    assertEquals(12345, SizeOnce.roundUp(12345, 1));
    assertThrows(IllegalArgumentException.class, () -> SizeOnce.roundUp(Long.MAX_VALUE, PAGE));
    assertThrows(IllegalArgumentException.class, () -> SizeOnce.roundUp(5, 0));
  }

  @Test
  void reservingInsideTheObjectIsAllowedUpToItsEnd() {
    SizeOnce.requireWithin(0, PAGE, PAGE, "reserve", "macOS", "/snkx");
    SizeOnce.requireWithin(PAGE - 1, 1, PAGE, "reserve", "macOS", "/snkx");
    SizeOnce.requireWithin(PAGE, 0, PAGE, "reserve", "macOS", "/snkx");
  }

  @Test
  void reservingPastTheEndIsRefusedBecauseTheObjectCannotGrow() {
    PlatformException e = assertThrows(PlatformException.class,
        () -> SizeOnce.requireWithin(PAGE - 1, 2, PAGE, "reserve", "Windows", "Local\\snkx"));
    assertEquals(PlatformException.EINVAL, e.errno());
    assertTrue(e.strerror().contains("[16383, 16385) lies past the end of the 16384-byte object"), e.strerror());
    assertTrue(e.strerror().contains("Windows cannot grow"), e.strerror());
    assertThrows(PlatformException.class,
        () -> SizeOnce.requireWithin(Long.MAX_VALUE, Long.MAX_VALUE, PAGE, "reserve", "macOS", "/snkx"));
    assertThrows(IllegalArgumentException.class,
        () -> SizeOnce.requireWithin(-1, 1, PAGE, "reserve", "macOS", "/snkx"));
  }
}

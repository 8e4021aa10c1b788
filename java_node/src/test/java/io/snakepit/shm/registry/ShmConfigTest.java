package io.snakepit.shm.registry;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Map;
import org.junit.jupiter.api.Test;

class ShmConfigTest {
  private final ShmConfig defaults = ShmConfig.defaults(1L << 30);

  @Test
  void defaultsFollowTheContract() {
    assertEquals(100, defaults.graceMs());
    assertEquals(1L << 29, defaults.maxTotalBytes(), "half the shm dir");
    assertEquals(ShmConfig.UNLIMITED, defaults.maxHolderBytes());
    assertEquals(1_000_000, defaults.maxRegions());
    assertEquals(ZeroOnFree.SENSITIVE, defaults.zeroOnFree());
  }

  @Test
  void aValidChangeAppliesEveryKey() {
    ShmConfig c = defaults.with(Map.of("grace_ms", 5L, "zero_on_free", new ShmException.Atom("always"),
        "max_holder_bytes", 4096L));
    assertEquals(5, c.graceMs());
    assertEquals(ZeroOnFree.ALWAYS, c.zeroOnFree());
    assertEquals(4096, c.maxHolderBytes());
    assertEquals(ShmConfig.UNLIMITED,
        c.with(Map.of("max_holder_bytes", new ShmException.Atom("infinity"))).maxHolderBytes());
  }

  @Test
  void aBadValueNamesItsKeyAndChangesNothing() {
    ShmException e = assertThrows(ShmException.class,
        () -> defaults.with(Map.of("grace_ms", -1L)));
    assertEquals(ErrorCode.INVALID_REQUEST, e.code());
    assertEquals("grace_ms", e.extra().get("key"));
    assertTrue(e.getMessage().contains("grace_ms"));
    assertEquals(100, defaults.graceMs());
  }

  @Test
  void unknownKeysWrongTypesAndInconsistentSizesAreRefused() {
    assertThrows(ShmException.class, () -> defaults.with(Map.of("nope", 1L)));
    assertThrows(ShmException.class, () -> defaults.with(Map.of("grace_ms", "100")));
    assertThrows(ShmException.class, () -> defaults.with(Map.of("zero_on_free", new ShmException.Atom("sometimes"))));
    ShmException e = assertThrows(ShmException.class,
        () -> defaults.with(Map.of("pool_segment_bytes", 65536L, "dedicated_threshold_bytes", 65536L)));
    assertEquals("dedicated_threshold_bytes", e.extra().get("key"));
  }
}

package io.snakepit.shm.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.snakepit.shm.registry.ShmConfig;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class ConfigSourcesTest {
  @Test
  void laterSourcesWinKeyByKey() throws Exception {
    Path file = Files.createTempFile("snakepit-shm-config", ".conf");
    try {
      Files.writeString(file, "grace_ms = 10\nmax_regions = 500\nzero_on_free = always\n");
      ShmConfig c = ConfigSources.resolve(1L << 30, file,
          Map.of("SNAKEPIT_SHM_GRACE_MS", "20", "SNAKEPIT_SHM_MAX_REGIONS", "600", "SNAKEPIT_SHM_LOG_LEVEL", "debug",
              "SNAKEPIT_SHM_NO_NUMPY", "1", "PATH", "/bin"),
          List.of("grace_ms=30"));
      assertEquals(30, c.graceMs(), "--set wins over the environment and the file");
      assertEquals(600, c.maxRegions(), "the environment wins over the file");
      assertEquals("always", c.zeroOnFree().atom(), "the file wins over the defaults");
      assertEquals(ShmConfig.defaults(1L << 30).maxHolderBytes(), c.maxHolderBytes(), "defaults stay");
    } finally {
      Files.delete(file);
    }
  }

  @Test
  void aBadValueNamesItsSource() throws IOException {
    UsageException env = assertThrows(UsageException.class, () -> ConfigSources.resolve(1L << 30, null,
        Map.of("SNAKEPIT_SHM_GRACE_MS", "-5"), List.of()));
    assertTrue(env.getMessage().contains("environment variable SNAKEPIT_SHM_GRACE_MS"), env.getMessage());
    UsageException flag = assertThrows(UsageException.class, () -> ConfigSources.resolve(1L << 30, null, Map.of(),
        List.of("zero_on_free=sometimes")));
    assertTrue(flag.getMessage().startsWith("--set zero_on_free=sometimes: invalid value for zero_on_free"),
        flag.getMessage());
    UsageException shape = assertThrows(UsageException.class, () -> ConfigSources.resolve(1L << 30, null, Map.of(),
        List.of("grace_ms")));
    assertTrue(shape.getMessage().contains("KEY=VALUE"), shape.getMessage());
    UsageException unknown = assertThrows(UsageException.class, () -> ConfigSources.resolve(1L << 30, null,
        Map.of(), List.of("no_such_key=1")));
    assertTrue(unknown.getMessage().contains("unknown configuration key no_such_key"), unknown.getMessage());
  }
}

package io.snakepit.shm.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** {@code node --host-id ID} and SNAKEPIT_SHM_HOST_ID (docs/SCALE_OUT.md). */
class NodeHostIdOptionTest {
  @Test
  void hostIdIsTakenSeparatelyOrAfterAnEqualsSign() throws Exception {
    assertEquals("host-a", NodeOptions.parse(List.of("--host-id", "host-a")).hostId());
    assertEquals("b.example:1", NodeOptions.parse(List.of("--host-id=b.example:1", "--name", "n")).hostId());
    assertNull(NodeOptions.parse(List.of("--name", "n")).hostId());
    assertTrue(NodeOptions.USAGE.contains("--host-id ID"));
  }

  @Test
  void aBadHostIdIsAUsageErrorThatNamesTheRule() {
    UsageException e = assertThrows(UsageException.class,
        () -> NodeOptions.parse(List.of("--host-id", "two words")));
    assertEquals(UsageException.BAD_ARGUMENTS, e.exitStatus());
    assertTrue(e.getMessage().contains("--host-id") && e.getMessage().contains("1 to 64 letters"), e.getMessage());
    assertThrows(UsageException.class, () -> NodeOptions.parse(List.of("--host-id")));
  }

  @Test
  void theHostIdVariableIsNotMistakenForAConfigurationKey() throws Exception {
    Map<String, String> sources = new HashMap<>();
    assertEquals(Map.of(), ConfigSources.fromEnvironment(Map.of("SNAKEPIT_SHM_HOST_ID", "host-a"), sources));
    assertTrue(ConfigSources.LAUNCHER_VARIABLES.contains("SNAKEPIT_SHM_HOST_ID"));
  }
}

package io.snakepit.shm.registry;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class OperatorKeyTest {
  @Test
  void onlyTheKeyItselfMatches() {
    OperatorKey k = OperatorKey.of("0123456789abcdef-key");
    assertTrue(k.isSet());
    assertTrue(k.matches("0123456789abcdef-key"));
    assertFalse(k.matches("0123456789abcdef-kez"));
    assertFalse(k.matches("0123456789abcdef-key "));
    assertFalse(k.matches(""));
    assertFalse(k.matches(null));
    assertFalse(k.toString().contains("0123"), "toString never shows the key");
  }

  @Test
  void aNodeWithoutAKeyHasNoOperatorsAndShortKeysAreRefused() {
    assertFalse(OperatorKey.none().matches("anything at all here"));
    assertFalse(OperatorKey.none().isSet());
    assertThrows(IllegalArgumentException.class, () -> OperatorKey.of("short"));
  }
}

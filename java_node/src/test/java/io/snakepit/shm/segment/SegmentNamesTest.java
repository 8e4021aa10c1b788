package io.snakepit.shm.segment;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.HashSet;
import java.util.Set;
import org.junit.jupiter.api.Test;

class SegmentNamesTest {
  private final SegmentNames names = new SegmentNames();

  @Test
  void namesFitTheMacOsLimitAndCarryAtLeast96RandomBits() {
    String name = SegmentNames.shmName(names.newFileName());
    assertTrue(name.length() <= SegmentNames.MAX_NAME_CHARS, name);
    assertTrue(name.startsWith("/snk"), name);
    assertTrue(SegmentNames.RANDOM_BITS >= 96);
  }

  @Test
  void namesAreRecognisedAndDistinct() {
    Set<String> seen = new HashSet<>();
    for (int i = 0; i < 10_000; i++) {
      String n = names.newFileName();
      assertTrue(SegmentNames.isSegmentFileName(n), n);
      assertTrue(seen.add(n), "duplicate " + n);
    }
    assertFalse(SegmentNames.isSegmentFileName("snk"));
    assertFalse(SegmentNames.isSegmentFileName("psm_abcdefghijklmnopqrstuvw"));
    assertFalse(SegmentNames.isSegmentFileName("snkABCDEFGHIJKLMNOPQRSTUV"));
  }

  @Test
  void everyBase32CharacterIsUsed() {
    Set<Character> chars = new HashSet<>();
    for (int i = 0; i < 2000; i++) {
      for (char c : names.newFileName().substring(3).toCharArray()) {
        chars.add(c);
      }
    }
    assertEquals(32, chars.size());
  }
}

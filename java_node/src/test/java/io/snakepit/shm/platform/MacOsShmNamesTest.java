package io.snakepit.shm.platform;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.snakepit.shm.segment.SegmentNames;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

/** macOS POSIX shm names: a slash, one component, at most 30 bytes (the kernel takes 31). */
class MacOsShmNamesTest {
  @Test
  void aNameIsTheFileNameAfterASlash() {
    assertEquals("/snkabc", MacOsShmNames.shmName("snkabc"));
  }

  @Test
  void thirtyBytesWithTheSlashAreAllowedAndThirtyOneAreNot() {
    String longest = "s".repeat(29);
    assertEquals(30, MacOsShmNames.shmName(longest).length());

    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> MacOsShmNames.shmName(longest + "s"));
    assertTrue(e.getMessage().contains("has 31 bytes; at most 30 are allowed with the slash"), e.getMessage());
    assertTrue(e.getMessage().contains("PSHMNAMLEN is 31"), e.getMessage());
  }

  @Test
  void theLimitCountsUtf8BytesNotCharacters() {
    String twoByteChars = "\u00e9".repeat(15); // 15 characters, 30 bytes, 31 with the slash
    assertThrows(IllegalArgumentException.class, () -> MacOsShmNames.shmName(twoByteChars));
    assertEquals(30, MacOsShmNames.shmName("\u00e9".repeat(14) + "x").getBytes(StandardCharsets.UTF_8).length);
  }

  @Test
  void everySegmentNameFits() {
    SegmentNames names = new SegmentNames();
    for (int i = 0; i < 1000; i++) {
      String shm = MacOsShmNames.shmName(names.newFileName());
      assertEquals(SegmentNames.shmName(shm.substring(1)), shm);
      assertTrue(shm.length() <= MacOsShmNames.MAX_NAME_BYTES, shm);
    }
    assertEquals(SegmentNames.MAX_NAME_CHARS, MacOsShmNames.MAX_NAME_BYTES,
        "the contract's limit and the platform's must agree");
    assertTrue(MacOsShmNames.MAX_NAME_BYTES < MacOsShmNames.KERNEL_MAX_NAME_BYTES + 1);
  }

  @Test
  void namesThatAreNotOneComponentAreRefused() {
    for (String bad : new String[] {"", ".", "..", "a/b", "/snk", "snk\0x"}) {
      assertThrows(IllegalArgumentException.class, () -> MacOsShmNames.shmName(bad), bad);
    }
    assertThrows(IllegalArgumentException.class, () -> MacOsShmNames.shmName(null));
  }

  @Test
  void theModeIsCheckedNotRepaired() {
    assertNull(MacOsShmNames.modeProblem(0600, 0600));
    assertNull(MacOsShmNames.modeProblem(0100600, 0600), "file type bits are ignored");
    assertEquals("created with mode 644 instead of 600", MacOsShmNames.modeProblem(0644, 0600));
  }
}

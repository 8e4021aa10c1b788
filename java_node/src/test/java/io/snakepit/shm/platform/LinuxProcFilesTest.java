package io.snakepit.shm.platform;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import org.junit.jupiter.api.Test;

/** Parsing of /proc text, including command names that would fool a naive split. */
class LinuxProcFilesTest {
  /** A real /proc/PID/stat line (52 fields); starttime, field 22, is 8123456. */
  private static final String TAIL = " S 1 1234 1234 0 -1 4194560 1000 0 0 0 12 3 0 0 20 0 5 0 8123456"
      + " 123456789 1000 18446744073709551615 1 1 0 0 0 0 0 4096 17 1 0 0 0 0 0 0 0 0 0 0 0 0 0\n";

  @Test
  void startTicksIsField22() {
    assertEquals(8123456L, LinuxProcFiles.startTicksFromStat("4242 (java)" + TAIL));
  }

  @Test
  void startTicksCountsFieldsAfterTheLastParenthesisOfTheCommandName() {
    assertEquals(8123456L, LinuxProcFiles.startTicksFromStat("4242 (a) 1 2 (b c)" + TAIL));
    assertEquals(8123456L, LinuxProcFiles.startTicksFromStat("4242 ())) ) ()" + TAIL));
  }

  @Test
  void startTicksRejectsATruncatedOrMalformedLine() {
    assertThrows(IllegalArgumentException.class, () -> LinuxProcFiles.startTicksFromStat("4242 java S 1"));
    assertThrows(IllegalArgumentException.class, () -> LinuxProcFiles.startTicksFromStat("4242 (java) S 1 2 3"));
    assertThrows(IllegalArgumentException.class,
        () -> LinuxProcFiles.startTicksFromStat("4242 (java)" + TAIL.replace("8123456", "x")));
  }

  @Test
  void bootIdIsTheHexDigitsInWrittenOrder() {
    byte[] id = LinuxProcFiles.bootIdBytes("0011aaff-2233-4455-6677-8899AABBCCDD\n");

    assertArrayEquals(new byte[] {0x00, 0x11, (byte) 0xaa, (byte) 0xff, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77,
        (byte) 0x88, (byte) 0x99, (byte) 0xaa, (byte) 0xbb, (byte) 0xcc, (byte) 0xdd}, id);
  }

  @Test
  void bootIdRejectsNonUuidText() {
    assertThrows(IllegalArgumentException.class, () -> LinuxProcFiles.bootIdBytes(""));
    assertThrows(IllegalArgumentException.class, () -> LinuxProcFiles.bootIdBytes("1-1-1-1-1"));
    assertThrows(IllegalArgumentException.class,
        () -> LinuxProcFiles.bootIdBytes("0011aaff-2233-4455-6677-8899AABBCCDG"));
  }
}

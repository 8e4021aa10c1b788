package io.snakepit.shm.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/** The dump's range rules and hex format, and the text helpers operators read. */
class DumpAndTextTest {
  private static final DumpCommand.Target REGION = new DumpCommand.Target("00000000000000ff", 1, Path.of("/x"),
      "/snkx", 320, 1000, false, true);

  @Test
  void theDefaultRangeIs256BytesOrUpToTheEnd() throws Exception {
    assertEquals(256, DumpCommand.range(REGION, 0, null));
    assertEquals(100, DumpCommand.range(REGION, 900, null));
    assertEquals(1000, DumpCommand.range(REGION, 0, 1000L));
  }

  @Test
  void rangesOutsideThePayloadAreRefused() {
    UsageException past = assertThrows(UsageException.class, () -> DumpCommand.range(REGION, 1000, null));
    assertEquals(UsageException.BAD_ARGUMENTS, past.exitStatus());
    assertTrue(past.getMessage().contains("outside the payload"), past.getMessage());
    UsageException longer = assertThrows(UsageException.class, () -> DumpCommand.range(REGION, 990, 11L));
    assertTrue(longer.getMessage().contains("at most --length 10"), longer.getMessage());
  }

  @Test
  void hexDumpShowsOffsetsHexAndPrintableText() {
    byte[] bytes = "hello, shared memory\u0000\u0001".getBytes(java.nio.charset.StandardCharsets.ISO_8859_1);
    assertEquals("00000010  68 65 6c 6c 6f 2c 20 73  68 61 72 65 64 20 6d 65  |hello, shared me|\n"
        + "00000020  6d 6f 72 79 00 01                                 |mory..|\n", DumpCommand.hexDump(bytes, 16));
  }

  @Test
  void agesAndTablesReadAtAGlance() {
    long now = 10_000_000;
    assertEquals("now", TextTable.ago(now - 500, now));
    assertEquals("12s ago", TextTable.ago(now - 12_000, now));
    assertEquals("3m ago", TextTable.ago(now - 200_000, now));
    assertEquals("2h ago", TextTable.ago(now - 7_300_000, now));
    assertEquals("-", TextTable.ago(0, now));
    assertEquals("1.5 KiB", TextTable.bytes(1536L));
    String t = new TextTable("NAME", ">SIZE").row("a", "1 B").row("longer", "10 KiB").render(2);
    assertEquals("  NAME      SIZE\n  a          1 B\n  longer  10 KiB\n", t);
  }

  @Test
  void healthStatusesMapToExitStatuses() {
    assertEquals(0, HealthCommand.exitStatus("ok"));
    assertEquals(1, HealthCommand.exitStatus("degraded"));
    assertEquals(2, HealthCommand.exitStatus("failing"));
    assertEquals(3, HealthCommand.exitStatus("unknown"));
    assertEquals("degraded", HealthCommand.worst("ok", "degraded"));
    assertEquals("failing", HealthCommand.worst("failing", "degraded"));
  }
}

package io.snakepit.shm.platform;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/** The int descriptors WindowsPlatform hands out for section handles. */
class DescriptorTableTest {
  private final DescriptorTable<String> table = new DescriptorTable<>();

  @Test
  void numbersStartAboveStdioAndAreNotReusedSoon() {
    int a = table.add("a");
    int b = table.add("b");
    table.remove(a);
    int c = table.add("c");

    assertEquals(DescriptorTable.FIRST, a);
    assertTrue(b > a && c > b, a + " " + b + " " + c);
    assertEquals("c", table.get(c, "test"));
    assertEquals(2, table.size());
  }

  @Test
  void numbersWrapAroundAndSkipThoseInUse() {
    int first = table.add("first"); // FIRST, still open
    table.setNextForTest(Integer.MAX_VALUE);

    assertEquals(Integer.MAX_VALUE, table.add("last"));
    assertEquals(DescriptorTable.FIRST + 1, table.add("wrapped"), "FIRST is in use, so it is skipped");
    assertEquals("first", table.get(first, "test"));
  }

  @Test
  void anUnknownOrClosedNumberIsEbadf() {
    int a = table.add("a");
    assertEquals("a", table.remove(a));

    PlatformException e = assertThrows(PlatformException.class, () -> table.get(a, "MapViewOfFile"));
    assertEquals(DescriptorTable.EBADF, e.errno());
    assertEquals("MapViewOfFile", e.call());
    assertEquals("fd " + a, e.name());
    assertNull(table.remove(a));
    assertThrows(PlatformException.class, () -> table.get(-1, "x"));
  }

  @Test
  void descriptorsListsTheOpenOnes() {
    int a = table.add("a");
    int b = table.add("b");
    table.remove(a);

    assertEquals(java.util.List.of(b), table.descriptors());
  }
}

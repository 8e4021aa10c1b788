package io.snakepit.shm.registry;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.HashSet;
import java.util.Set;
import org.junit.jupiter.api.Test;

class CapabilityTokenTest {
  @Test
  void tokensAre32HexDigitsAndMatchOnlyThemselves() {
    CapabilityToken source = new CapabilityToken();
    long[] t = new long[2];
    Set<String> seen = new HashSet<>();
    for (int i = 0; i < 2000; i++) { // crosses several refills of the batch
      source.next(t);
      String text = CapabilityToken.format(t[0], t[1]);
      assertTrue(text.matches("[0-9a-f]{32}"), text);
      assertTrue(CapabilityToken.matches(text, t[0], t[1]));
      assertTrue(seen.add(text), "no token repeats");
    }
  }

  @Test
  void anyOtherTextDoesNotMatch() {
    long hi = 0x0123456789abcdefL;
    long lo = 0xfedcba9876543210L;
    String good = CapabilityToken.format(hi, lo);
    assertEquals("0123456789abcdeffedcba9876543210", good);
    assertFalse(CapabilityToken.matches(null, hi, lo));
    assertFalse(CapabilityToken.matches("", hi, lo));
    assertFalse(CapabilityToken.matches(good.substring(1), hi, lo));
    assertFalse(CapabilityToken.matches(good + "0", hi, lo));
    assertFalse(CapabilityToken.matches(good.replace('f', 'e'), hi, lo));
    assertFalse(CapabilityToken.matches("0123456789abcdeffedcba987654321g", hi, lo), "not hex");
    assertFalse(CapabilityToken.matches("0123456789abcdeffedcba987654321-", hi, lo), "not hex");
    assertFalse(CapabilityToken.matches(good.toUpperCase(), hi, lo), "only the wire form: lowercase");
    assertFalse(CapabilityToken.matches(good.replace('1', '\uFF11'), hi, lo), "no non-ASCII digits");
  }
}

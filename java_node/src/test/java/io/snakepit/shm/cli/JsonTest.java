package io.snakepit.shm.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.math.BigInteger;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The --json writer: exact documents for the values TermValues makes. */
class JsonTest {
  @Test
  void writesNestedValuesOnOneLine() {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("id", "00ff");
    m.put("size", 100L);
    m.put("ratio", 0.25);
    m.put("live", true);
    m.put("tenant", null);
    m.put("holders", List.of(Map.of("refs", 2L), List.of("os_pid", 12L)));
    m.put("empty", Map.of());
    m.put("none", List.of());
    assertEquals("{\"id\":\"00ff\",\"size\":100,\"ratio\":0.25,\"live\":true,\"tenant\":null,"
        + "\"holders\":[{\"refs\":2},[\"os_pid\",12]],\"empty\":{},\"none\":[]}", Json.write(m));
  }

  @Test
  void escapesStringsAsJsonRequires() {
    assertEquals("\"a\\\"b\\\\c\\nd\\te\\u0001f\u00e9\"", Json.write("a\"b\\c\nd\te\u0001f\u00e9"));
  }

  @Test
  void numbersStayNumbersAndNonFiniteBecomeNull() {
    assertEquals("[1.0,1.5E-7,1E20,null,null,123456789012345678901234567890,-3]", Json.write(Arrays.asList(1.0,
        1.5e-7, 1e20, Double.NaN, Double.POSITIVE_INFINITY, new BigInteger("123456789012345678901234567890"), -3L)));
  }

  @Test
  void prettyIndentsByTwoSpaces() {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("a", List.of(1L, 2L));
    m.put("b", Map.of("c", "d"));
    assertEquals("{\n  \"a\": [1, 2],\n  \"b\": {\n    \"c\": \"d\"\n  }\n}", Json.pretty(m));
  }
}

package io.snakepit.shm.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import com.ericsson.otp.erlang.OtpErlangAtom;
import com.ericsson.otp.erlang.OtpErlangBinary;
import com.ericsson.otp.erlang.OtpErlangBoolean;
import com.ericsson.otp.erlang.OtpErlangDouble;
import com.ericsson.otp.erlang.OtpErlangList;
import com.ericsson.otp.erlang.OtpErlangLong;
import com.ericsson.otp.erlang.OtpErlangMap;
import com.ericsson.otp.erlang.OtpErlangObject;
import com.ericsson.otp.erlang.OtpErlangPid;
import com.ericsson.otp.erlang.OtpErlangString;
import com.ericsson.otp.erlang.OtpErlangTuple;
import java.math.BigInteger;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** Reply terms as the node sends them become the plain Java values the commands print. */
class TermValuesTest {
  private static OtpErlangAtom atom(String a) {
    return new OtpErlangAtom(a);
  }

  private static OtpErlangBinary bin(String s) {
    return new OtpErlangBinary(s.getBytes(StandardCharsets.UTF_8));
  }

  private static OtpErlangTuple tuple(OtpErlangObject... e) {
    return new OtpErlangTuple(e);
  }

  @Test
  void scalarsBecomeJavaScalars() {
    assertEquals("live", TermValues.of(atom("live")));
    assertEquals(Boolean.TRUE, TermValues.of(atom("true")));
    assertEquals(Boolean.FALSE, TermValues.of(new OtpErlangBoolean(false)));
    assertNull(TermValues.of(atom("nil")));
    assertEquals("héllo", TermValues.of(bin("héllo")));
    assertEquals(42L, TermValues.of(new OtpErlangLong(42)));
    assertEquals(Long.MIN_VALUE, TermValues.of(new OtpErlangLong(Long.MIN_VALUE)));
    BigInteger huge = BigInteger.ONE.shiftLeft(70);
    assertEquals(huge, TermValues.of(new OtpErlangLong(huge)));
    assertEquals(0.25, TermValues.of(new OtpErlangDouble(0.25)));
  }

  @Test
  void mapsKeepAtomAndBinaryKeysAsStrings() {
    OtpErlangMap m = new OtpErlangMap(
        new OtpErlangObject[] {atom("id"), bin("tenant-a"), atom("holders")},
        new OtpErlangObject[] {bin("00000000000000ff"), new OtpErlangLong(7), new OtpErlangList()});
    Map<String, Object> expected = new LinkedHashMap<>();
    expected.put("id", "00000000000000ff");
    expected.put("tenant-a", 7L);
    expected.put("holders", List.of());
    assertEquals(expected, TermValues.of(m));
  }

  @Test
  void listsAndTuplesBecomeListsAndOkReplyUnwraps() {
    Object reply = TermValues.of(tuple(atom("ok"), new OtpErlangList(new OtpErlangObject[] {
        tuple(atom("os_pid"), new OtpErlangLong(1234)), atom("nil")})));
    assertEquals(List.of("ok", Arrays.asList(List.of("os_pid", 1234L), null)), reply);
    assertEquals("os_pid 1234", TermValues.holder(List.of("os_pid", 1234L)));
  }

  @Test
  void aCharlistIsAListOfIntegers() {
    assertEquals(List.of(1L, 2L, 200L), TermValues.of(new OtpErlangString(new String(new int[] {1, 2, 200}, 0, 3))));
  }

  @Test
  void anImproperListEndsWithItsTail() throws Exception {
    OtpErlangList improper = new OtpErlangList(new OtpErlangObject[] {new OtpErlangLong(1)}, atom("tail"));
    assertEquals(List.of(1L, "tail"), TermValues.of(improper));
  }

  @Test
  void pidsReadAsNodeIdSerial() {
    OtpErlangPid pid = new OtpErlangPid("e2e@host", 123, 4, 0);
    assertEquals("#PID<e2e@host.123.4>", TermValues.of(pid));
    assertEquals("#PID<e2e@host.123.4>", TermValues.holder(TermValues.of(pid)));
  }

  @Test
  void readersToleratesMissingKeys() {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("n", 5L);
    m.put("x", 0.5);
    m.put("nothing", null);
    assertEquals(5, TermValues.longOf(m, "n", -1));
    assertEquals(-1, TermValues.longOf(m, "missing", -1));
    assertEquals(0.5, TermValues.doubleOf(m, "x", 0));
    assertEquals("", TermValues.text(m, "nothing"));
    assertEquals(Map.of(), TermValues.submap(m, "missing"));
    assertEquals(List.of(), TermValues.list(null));
  }
}

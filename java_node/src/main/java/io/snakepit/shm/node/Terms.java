package io.snakepit.shm.node;

import com.ericsson.otp.erlang.OtpErlangAtom;
import com.ericsson.otp.erlang.OtpErlangBinary;
import com.ericsson.otp.erlang.OtpErlangDouble;
import com.ericsson.otp.erlang.OtpErlangList;
import com.ericsson.otp.erlang.OtpErlangLong;
import com.ericsson.otp.erlang.OtpErlangMap;
import com.ericsson.otp.erlang.OtpErlangObject;
import com.ericsson.otp.erlang.OtpErlangTuple;
import io.snakepit.shm.registry.ShmException;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;

/**
 * Building Erlang terms from Java values. Values: {@link Long}/{@link Integer} become
 * integers, {@link Double} a float, {@link String} a UTF-8 binary (never a Java-serialised object),
 * {@link ShmException.Atom} an atom, {@link Boolean} {@code true}/{@code false},
 * null {@code nil}, {@link Map} a map with atom keys, {@link List} a list.
 */
final class Terms {
  static final OtpErlangAtom OK = new OtpErlangAtom("ok");
  static final OtpErlangAtom ERROR = new OtpErlangAtom("error");
  static final OtpErlangAtom NIL = new OtpErlangAtom("nil");

  private Terms() {}

  static OtpErlangAtom atom(String name) {
    return new OtpErlangAtom(name);
  }

  static OtpErlangBinary binary(String text) {
    return new OtpErlangBinary(text.getBytes(StandardCharsets.UTF_8));
  }

  static OtpErlangTuple tuple(OtpErlangObject... elements) {
    return new OtpErlangTuple(elements);
  }

  static OtpErlangTuple ok(OtpErlangObject value) {
    return tuple(OK, value);
  }

  /** {@code {:error, %{code:, message:, remediation:, ...extra}}}. */
  static OtpErlangTuple error(ShmException e) {
    Map<String, Object> m = new java.util.LinkedHashMap<>();
    m.put("code", new ShmException.Atom(e.code().atom()));
    m.put("message", e.getMessage() == null ? e.code().atom() : e.getMessage());
    m.put("remediation", e.remediation());
    m.putAll(e.extra());
    return tuple(ERROR, map(m));
  }

  static OtpErlangMap map(Map<String, ?> entries) {
    OtpErlangObject[] keys = new OtpErlangObject[entries.size()];
    OtpErlangObject[] values = new OtpErlangObject[entries.size()];
    int i = 0;
    for (Map.Entry<String, ?> e : entries.entrySet()) {
      keys[i] = atom(e.getKey());
      values[i] = term(e.getValue());
      i++;
    }
    return new OtpErlangMap(keys, values);
  }

  /**
   * A map keyed by binaries (session and tenant names are user text: they must not
   * become atoms, which are limited in length and never collected).
   */
  static OtpErlangMap binaryKeyMap(Map<String, Long> entries) {
    OtpErlangObject[] keys = new OtpErlangObject[entries.size()];
    OtpErlangObject[] values = new OtpErlangObject[entries.size()];
    int i = 0;
    for (Map.Entry<String, Long> e : entries.entrySet()) {
      keys[i] = binary(e.getKey());
      values[i] = new OtpErlangLong(e.getValue());
      i++;
    }
    return new OtpErlangMap(keys, values);
  }

  static OtpErlangObject term(Object v) {
    if (v == null) {
      return NIL;
    } else if (v instanceof OtpErlangObject o) {
      return o;
    } else if (v instanceof Long n) {
      return new OtpErlangLong(n);
    } else if (v instanceof Integer n) {
      return new OtpErlangLong(n);
    } else if (v instanceof Double d) {
      return new OtpErlangDouble(d);
    } else if (v instanceof String s) {
      return binary(s);
    } else if (v instanceof ShmException.Atom a) {
      return atom(a.name());
    } else if (v instanceof Boolean b) {
      return atom(b.toString());
    } else if (v instanceof Map<?, ?> m) {
      @SuppressWarnings("unchecked")
      Map<String, ?> sm = (Map<String, ?>) m;
      return map(sm);
    } else if (v instanceof List<?> l) {
      OtpErlangObject[] items = new OtpErlangObject[l.size()];
      for (int i = 0; i < items.length; i++) {
        items[i] = term(l.get(i));
      }
      return new OtpErlangList(items);
    }
    throw new IllegalArgumentException("no term for " + v.getClass().getName());
  }
}

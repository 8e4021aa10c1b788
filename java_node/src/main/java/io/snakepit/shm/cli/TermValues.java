package io.snakepit.shm.cli;

import com.ericsson.otp.erlang.OtpErlangAtom;
import com.ericsson.otp.erlang.OtpErlangBinary;
import com.ericsson.otp.erlang.OtpErlangBitstr;
import com.ericsson.otp.erlang.OtpErlangDouble;
import com.ericsson.otp.erlang.OtpErlangList;
import com.ericsson.otp.erlang.OtpErlangLong;
import com.ericsson.otp.erlang.OtpErlangMap;
import com.ericsson.otp.erlang.OtpErlangObject;
import com.ericsson.otp.erlang.OtpErlangPid;
import com.ericsson.otp.erlang.OtpErlangString;
import com.ericsson.otp.erlang.OtpErlangTuple;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Turns the node's reply terms into plain Java values, the one place the diagnostics
 * commands see Erlang terms:
 *
 * <ul>
 *   <li>maps: {@code LinkedHashMap<String, Object>} (atom and binary keys become strings;
 *       other keys their term text);
 *   <li>binaries: {@link String} (UTF-8; a bit string that is not whole bytes: its term text);
 *   <li>atoms: {@link String}, except {@code true}/{@code false} ({@link Boolean}) and
 *       {@code nil} (null);
 *   <li>integers: {@link Long}, or {@link java.math.BigInteger} beyond 64 bits;
 *   <li>floats: {@link Double};
 *   <li>lists and tuples: {@code List<Object>} (a charlist too, as its integers; an improper
 *       list ends with its tail);
 *   <li>pids: {@code "#PID<node.id.serial>"}; references, ports and funs: their term text.
 * </ul>
 */
public final class TermValues {
  private TermValues() {}

  /** The Java value of {@code term}. */
  public static Object of(OtpErlangObject term) {
    if (term == null) {
      return null;
    }
    if (term instanceof OtpErlangAtom a) {
      return switch (a.atomValue()) {
        case "true" -> Boolean.TRUE;
        case "false" -> Boolean.FALSE;
        case "nil" -> null;
        default -> a.atomValue();
      };
    }
    if (term instanceof OtpErlangBinary b) {
      return new String(b.binaryValue(), StandardCharsets.UTF_8);
    }
    if (term instanceof OtpErlangBitstr bits) {
      return bits.toString();
    }
    if (term instanceof OtpErlangLong n) {
      return n.isLong() ? (Object) n.longValue() : n.bigIntegerValue();
    }
    if (term instanceof OtpErlangDouble d) {
      return d.doubleValue();
    }
    if (term instanceof OtpErlangMap m) {
      Map<String, Object> out = new LinkedHashMap<>();
      for (OtpErlangObject k : m.keys()) {
        out.put(key(k), of(m.get(k)));
      }
      return out;
    }
    if (term instanceof OtpErlangList l) {
      List<Object> out = new ArrayList<>(l.arity() + 1);
      for (OtpErlangObject e : l.elements()) {
        out.add(of(e));
      }
      if (l.getLastTail() != null) {
        out.add(of(l.getLastTail()));
      }
      return out;
    }
    if (term instanceof OtpErlangString s) {
      List<Object> out = new ArrayList<>();
      s.stringValue().codePoints().forEach(c -> out.add((long) c));
      return out;
    }
    if (term instanceof OtpErlangTuple t) {
      List<Object> out = new ArrayList<>(t.arity());
      for (OtpErlangObject e : t.elements()) {
        out.add(of(e));
      }
      return out;
    }
    if (term instanceof OtpErlangPid p) {
      return pid(p);
    }
    return term.toString();
  }

  /** {@code "#PID<node.id.serial>"}: the node name and the pid's two numbers. */
  public static String pid(OtpErlangPid p) {
    return "#PID<" + p.node() + "." + p.id() + "." + p.serial() + ">";
  }

  private static String key(OtpErlangObject k) {
    if (k instanceof OtpErlangAtom a) {
      return a.atomValue();
    }
    if (k instanceof OtpErlangBinary b) {
      return new String(b.binaryValue(), StandardCharsets.UTF_8);
    }
    Object v = of(k);
    return v instanceof String s ? s : String.valueOf(k);
  }

  // ------------------------------------------------------------- reading decoded values

  /** {@code value} as a map ({@code what} names it in the error). */
  @SuppressWarnings("unchecked")
  public static Map<String, Object> map(Object value, String what) {
    if (value instanceof Map<?, ?> m) {
      return (Map<String, Object>) m;
    }
    throw new IllegalStateException(what + " is not a map: " + value);
  }

  /** {@code value} as a list, an empty one for null. */
  @SuppressWarnings("unchecked")
  public static List<Object> list(Object value) {
    if (value == null) {
      return List.of();
    }
    if (value instanceof List<?> l) {
      return (List<Object>) l;
    }
    throw new IllegalStateException("not a list: " + value);
  }

  /** The map under {@code key}, an empty one when absent. */
  public static Map<String, Object> submap(Map<String, Object> m, String key) {
    Object v = m.get(key);
    return v == null ? new LinkedHashMap<>() : map(v, key);
  }

  /** The number under {@code key} as a long ({@code dflt} when absent or not a number). */
  public static long longOf(Map<String, Object> m, String key, long dflt) {
    return m.get(key) instanceof Number n ? n.longValue() : dflt;
  }

  /** The number under {@code key} as a double ({@code dflt} when absent or not a number). */
  public static double doubleOf(Map<String, Object> m, String key, double dflt) {
    return m.get(key) instanceof Number n ? n.doubleValue() : dflt;
  }

  /** The value under {@code key} as text ({@code ""} for null). */
  public static String text(Map<String, Object> m, String key) {
    Object v = m.get(key);
    return v == null ? "" : v instanceof List<?> l ? holder(l) : String.valueOf(v);
  }

  /**
   * A holder for people: a pid's text, or {@code os_pid N} for the tuple
   * {@code {:os_pid, n}} (decoded as {@code ["os_pid", n]}).
   */
  public static String holder(Object h) {
    if (h instanceof List<?> l && l.size() == 2 && "os_pid".equals(l.get(0))) {
      return "os_pid " + l.get(1);
    }
    return String.valueOf(h);
  }
}

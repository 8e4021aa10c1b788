package io.snakepit.shm.node;

import com.ericsson.otp.erlang.OtpErlangAtom;
import com.ericsson.otp.erlang.OtpErlangBinary;
import com.ericsson.otp.erlang.OtpErlangList;
import com.ericsson.otp.erlang.OtpErlangLong;
import com.ericsson.otp.erlang.OtpErlangMap;
import com.ericsson.otp.erlang.OtpErlangObject;
import com.ericsson.otp.erlang.OtpErlangPid;
import com.ericsson.otp.erlang.OtpErlangTuple;
import io.snakepit.shm.registry.Access;
import io.snakepit.shm.registry.Holder;
import io.snakepit.shm.registry.ShmException;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;
import java.util.function.LongUnaryOperator;

/**
 * Decoded request options: a map or keyword list of atom keys, checked against the keys a
 * request accepts. Every getter throws an {@code invalid_request} {@link ShmException}
 * naming the key and what was expected.
 */
final class Options {
  /** Longest text option in bytes (session, tenant, label). */
  static final int MAX_TEXT_BYTES = 1024;

  private final Map<String, OtpErlangObject> values;

  private Options(Map<String, OtpErlangObject> values) {
    this.values = values;
  }

  /** Parses {@code term} (map or keyword list) and rejects keys outside {@code allowed}. */
  static Options parse(OtpErlangObject term, Set<String> allowed, String what) {
    Map<String, OtpErlangObject> out = new LinkedHashMap<>();
    if (term instanceof OtpErlangMap m) {
      for (OtpErlangObject k : m.keys()) {
        put(out, k, m.get(k), allowed, what);
      }
    } else if (term instanceof OtpErlangList l) {
      for (OtpErlangObject item : l) {
        if (!(item instanceof OtpErlangTuple t) || t.arity() != 2) {
          throw ShmException.invalid(what + " must be a map or a keyword list; found the element " + Requests.show(item));
        }
        put(out, t.elementAt(0), t.elementAt(1), allowed, what);
      }
      if (!l.isProper()) {
        throw ShmException.invalid(what + " must be a proper list");
      }
    } else {
      throw ShmException.invalid(what + " must be a map or a keyword list, got " + Requests.show(term));
    }
    return new Options(out);
  }

  private static void put(Map<String, OtpErlangObject> out, OtpErlangObject key, OtpErlangObject value,
      Set<String> allowed, String what) {
    if (!(key instanceof OtpErlangAtom a)) {
      throw ShmException.invalid(what + " keys must be atoms, got " + Requests.show(key));
    }
    if (!allowed.contains(a.atomValue())) {
      throw ShmException.invalid("unknown key " + a.atomValue() + " in " + what + "; accepted: " + allowed)
          .with("key", a.atomValue());
    }
    out.putIfAbsent(a.atomValue(), value);
  }

  boolean has(String key) {
    return values.containsKey(key);
  }

  /** The option's term as given, or null. */
  OtpErlangObject raw(String key) {
    return values.get(key);
  }

  /** A binary option as text, or null when absent or nil. */
  String text(String key) {
    OtpErlangObject v = values.get(key);
    if (v == null || Terms.NIL.equals(v)) {
      return null;
    }
    return Requests.text(v, key, MAX_TEXT_BYTES);
  }

  boolean bool(String key, boolean dflt) {
    OtpErlangObject v = values.get(key);
    if (v == null) {
      return dflt;
    }
    if (v instanceof OtpErlangAtom a && (a.atomValue().equals("true") || a.atomValue().equals("false"))) {
      return a.atomValue().equals("true");
    }
    throw bad(key, "a boolean", v);
  }

  long positiveLong(String key, long dflt) {
    OtpErlangObject v = values.get(key);
    if (v == null || Terms.NIL.equals(v)) {
      return dflt;
    }
    long n = Requests.longValue(v, key);
    if (n <= 0) {
      throw bad(key, "a positive integer", v);
    }
    return n;
  }

  int positiveInt(String key, int dflt) {
    long n = positiveLong(key, dflt);
    return (int) Math.min(n, Integer.MAX_VALUE);
  }

  Access access(String key, Access dflt) {
    OtpErlangObject v = values.get(key);
    if (v == null) {
      return dflt;
    }
    Access a = v instanceof OtpErlangAtom atom ? Access.fromAtom(atom.atomValue()) : null;
    if (a == null) {
      throw bad(key, ":read_write or :read_only", v);
    }
    return a;
  }

  /**
   * The holder option: a pid, or {@code {:os_pid, n}} of a running process (its start
   * time is read through {@code startTicksOfPid}); {@code dflt} when absent.
   */
  Holder holder(Holder dflt, LongUnaryOperator startTicksOfPid) {
    OtpErlangObject v = values.get("holder");
    if (v == null) {
      return dflt;
    }
    if (v instanceof OtpErlangPid pid) {
      return new Holder.BeamProcess(pid);
    }
    if (v instanceof OtpErlangTuple t && t.arity() == 2 && t.elementAt(0) instanceof OtpErlangAtom tag
        && tag.atomValue().equals("os_pid") && t.elementAt(1) instanceof OtpErlangLong n) {
      long pid = Requests.longValue(n, "holder");
      if (pid <= 0 || pid > Integer.MAX_VALUE) {
        throw bad("holder", "{:os_pid, n} with n a positive pid", v);
      }
      long ticks = startTicksOfPid.applyAsLong(pid);
      if (ticks < 0) {
        throw ShmException.invalid("holder {:os_pid, " + pid + "}: no such process is running")
            .with("key", "holder");
      }
      return new Holder.OsProcess(pid, ticks);
    }
    throw bad("holder", "a pid or {:os_pid, integer}", v);
  }

  private static ShmException bad(String key, String expected, OtpErlangObject got) {
    return ShmException.invalid("option " + key + " must be " + expected + ", got " + Requests.show(got))
        .with("key", key);
  }

  /** Decodes UTF-8 strictly; malformed bytes are an error. */
  static String utf8(OtpErlangBinary b, String key) {
    try {
      return StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
          .onUnmappableCharacter(CodingErrorAction.REPORT).decode(ByteBuffer.wrap(b.binaryValue())).toString();
    } catch (CharacterCodingException e) {
      throw ShmException.invalid(key + " must be valid UTF-8").with("key", key);
    }
  }
}

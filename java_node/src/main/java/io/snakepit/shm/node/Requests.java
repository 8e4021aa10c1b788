package io.snakepit.shm.node;

import com.ericsson.otp.erlang.OtpErlangBinary;
import com.ericsson.otp.erlang.OtpErlangList;
import com.ericsson.otp.erlang.OtpErlangLong;
import com.ericsson.otp.erlang.OtpErlangMap;
import com.ericsson.otp.erlang.OtpErlangString;
import com.ericsson.otp.erlang.OtpErlangTuple;
import com.ericsson.otp.erlang.OtpErlangObject;
import io.snakepit.shm.registry.ShmException;

/** Small decoders for request fields; each throws {@code invalid_request} naming the field. */
final class Requests {
  /** How much of an offending term an error message quotes. */
  private static final int SHOW_CHARS = 120;

  private Requests() {}

  /**
   * A short printable rendering of a term for error messages: bounded in depth and length,
   * so a deeply nested or huge term cannot blow the stack or the reply.
   */
  static String show(OtpErlangObject term) {
    StringBuilder sb = new StringBuilder();
    render(term, sb, 0);
    return sb.length() > SHOW_CHARS ? sb.substring(0, SHOW_CHARS) + "..." : sb.toString();
  }

  private static final int SHOW_DEPTH = 6;

  private static void render(OtpErlangObject term, StringBuilder sb, int depth) {
    if (sb.length() > SHOW_CHARS) {
      return;
    }
    if (depth > SHOW_DEPTH) {
      sb.append("...");
    } else if (term instanceof OtpErlangTuple t) {
      sb.append('{');
      renderAll(t.elements(), sb, depth);
      sb.append('}');
    } else if (term instanceof OtpErlangList l) {
      sb.append('[');
      renderAll(l.elements(), sb, depth);
      sb.append(']');
    } else if (term instanceof OtpErlangMap m) {
      sb.append("%{map of ").append(m.arity()).append(" keys}");
    } else if (term instanceof OtpErlangBinary b && b.size() > SHOW_CHARS / 2) {
      sb.append("<<binary of ").append(b.size()).append(" bytes>>");
    } else if (term instanceof OtpErlangString s && s.stringValue().length() > SHOW_CHARS / 2) {
      sb.append("[charlist of ").append(s.stringValue().length()).append(" characters]");
    } else {
      sb.append(term);
    }
  }

  private static void renderAll(OtpErlangObject[] items, StringBuilder sb, int depth) {
    for (int i = 0; i < items.length && sb.length() <= SHOW_CHARS; i++) {
      if (i > 0) {
        sb.append(',');
      }
      render(items[i], sb, depth + 1);
    }
  }

  /** A binary as UTF-8 text of at most {@code maxBytes}. */
  static String text(OtpErlangObject v, String key, int maxBytes) {
    if (!(v instanceof OtpErlangBinary b)) {
      throw ShmException.invalid(key + " must be a binary (an Elixir string), got " + show(v)).with("key", key);
    }
    if (b.size() > maxBytes) {
      throw ShmException.invalid(key + " is longer than " + maxBytes + " bytes").with("key", key);
    }
    return Options.utf8(b, key);
  }

  /** A binary of at most {@code maxBytes}, as bytes. */
  static byte[] bytes(OtpErlangObject v, String key, int maxBytes) {
    if (!(v instanceof OtpErlangBinary b)) {
      throw ShmException.invalid(key + " must be a binary, got " + show(v)).with("key", key);
    }
    if (b.size() > maxBytes) {
      throw ShmException.invalid(key + " is larger than " + maxBytes + " bytes").with("key", key);
    }
    return b.binaryValue();
  }

  /** An integer that fits a signed 64-bit long. */
  static long longValue(OtpErlangObject v, String key) {
    if (!(v instanceof OtpErlangLong n)) {
      throw ShmException.invalid(key + " must be an integer, got " + show(v)).with("key", key);
    }
    if (n.bitLength() > 63) {
      throw ShmException.invalid(key + " is out of range: " + show(v)).with("key", key);
    }
    return n.longValue();
  }

  /**
   * A proper list of 1 to {@code max} integers. A list of small integers may arrive as
   * a charlist (Erlang's string encoding), which is accepted too.
   */
  static long[] longList(OtpErlangObject v, String key, int max) {
    if (v instanceof OtpErlangString s) {
      int[] cps = s.stringValue().codePoints().toArray();
      checkBatchLength(cps.length, key, max);
      long[] out = new long[cps.length];
      for (int i = 0; i < cps.length; i++) {
        out[i] = cps[i];
      }
      return out;
    }
    OtpErlangObject[] items = properList(v, key, max);
    long[] out = new long[items.length];
    for (int i = 0; i < items.length; i++) {
      try {
        out[i] = longValue(items[i], key);
      } catch (ShmException e) {
        throw e.with("index", (long) i);
      }
    }
    return out;
  }

  /** A proper list of 1 to {@code max} region ids. */
  static long[] idList(OtpErlangObject v, int max) {
    OtpErlangObject[] items = properList(v, "ids", max);
    long[] out = new long[items.length];
    for (int i = 0; i < items.length; i++) {
      try {
        out[i] = regionId(items[i]);
      } catch (ShmException e) {
        throw e.with("index", (long) i);
      }
    }
    return out;
  }

  private static OtpErlangObject[] properList(OtpErlangObject v, String key, int max) {
    if (!(v instanceof OtpErlangList l) || !l.isProper()) {
      throw ShmException.invalid(key + " must be a proper list, got " + show(v)).with("key", key);
    }
    checkBatchLength(l.arity(), key, max);
    return l.elements();
  }

  private static void checkBatchLength(int n, String key, int max) {
    if (n == 0 || n > max) {
      throw ShmException.invalid(key + " must hold 1 to " + max + " elements, got " + n).with("key", key);
    }
  }

  /** A region id: a binary of 16 lowercase hex digits. */
  static long regionId(OtpErlangObject v) {
    if (v instanceof OtpErlangBinary b && b.size() == 16) {
      byte[] bytes = b.binaryValue();
      long id = 0;
      boolean ok = true;
      for (byte c : bytes) {
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        ok &= d >= 0;
        id = (id << 4) | (d & 15);
      }
      if (ok) {
        return id;
      }
    }
    throw ShmException.invalid("id must be a region id: a binary of 16 lowercase hex digits, got " + show(v))
        .with("key", "id");
  }
}

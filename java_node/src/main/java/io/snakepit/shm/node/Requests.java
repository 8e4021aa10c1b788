package io.snakepit.shm.node;

import com.ericsson.otp.erlang.OtpErlangBinary;
import com.ericsson.otp.erlang.OtpErlangLong;
import com.ericsson.otp.erlang.OtpErlangObject;
import io.snakepit.shm.registry.ShmException;

/** Small decoders for request fields; each throws {@code invalid_request} naming the field. */
final class Requests {
  /** How much of an offending term an error message quotes. */
  private static final int SHOW_CHARS = 120;

  private Requests() {}

  /** A short printable rendering of a term for error messages. */
  static String show(OtpErlangObject term) {
    String s;
    if (term instanceof OtpErlangBinary b && b.size() > SHOW_CHARS) {
      s = "<<binary of " + b.size() + " bytes>>";
    } else {
      s = String.valueOf(term);
    }
    return s.length() > SHOW_CHARS ? s.substring(0, SHOW_CHARS) + "..." : s;
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

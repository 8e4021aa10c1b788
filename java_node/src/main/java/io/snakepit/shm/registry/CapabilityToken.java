package io.snakepit.shm.registry;

import java.security.SecureRandom;

/**
 * The 128-bit secret a region's descriptor carries ({@code token}): {@code acquire} needs it,
 * so knowing a region's id (from {@code list}, a log line, a metric) is not enough to take
 * a reference to it (SECURITY.md "Capability tokens"). On the wire it is 32 lowercase hex
 * digits.
 *
 * <p>Tokens come from a {@link SecureRandom} read {@value #BATCH_TOKENS} tokens at a time,
 * so a token costs a few nanoseconds, not a system call.
 *
 * <p>Thread-safety: none; one instance per registry, used on its owner thread.
 */
final class CapabilityToken {
  /** Length of a token on the wire. */
  static final int TEXT_CHARS = 32;
  private static final int BATCH_TOKENS = 256;
  private static final char[] HEX = "0123456789abcdef".toCharArray();

  private final SecureRandom random = new SecureRandom();
  private final long[] batch = new long[BATCH_TOKENS * 2];
  private int next = batch.length;

  /** Two fresh random longs (high, low) written to {@code out}. */
  void next(long[] out) {
    if (next == batch.length) {
      byte[] bytes = new byte[batch.length * Long.BYTES];
      random.nextBytes(bytes);
      java.nio.ByteBuffer.wrap(bytes).asLongBuffer().get(batch);
      next = 0;
    }
    out[0] = batch[next++];
    out[1] = batch[next++];
  }

  /** The wire text of a token. */
  static String format(long hi, long lo) {
    char[] c = new char[TEXT_CHARS];
    for (int i = 0; i < 16; i++) {
      c[i] = HEX[(int) (hi >>> (60 - 4 * i)) & 0xF];
      c[16 + i] = HEX[(int) (lo >>> (60 - 4 * i)) & 0xF];
    }
    return new String(c);
  }

  /** The value of a lowercase ASCII hex digit, or -1 for any other character. */
  private static int hexDigit(char c) {
    if (c >= '0' && c <= '9') {
      return c - '0';
    }
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
  }

  /**
   * True when {@code text} is the token (hi, lo), written as on the wire (lowercase). The comparison takes the same time
   * wherever the first difference is, so timing does not reveal a prefix.
   */
  static boolean matches(String text, long hi, long lo) {
    if (text == null || text.length() != TEXT_CHARS) {
      return false;
    }
    long gotHi = 0;
    long gotLo = 0;
    int bad = 0;
    for (int i = 0; i < 16; i++) {
      int h = hexDigit(text.charAt(i));
      int l = hexDigit(text.charAt(16 + i));
      bad |= (h | l) & 0x80000000;
      gotHi = (gotHi << 4) | (h & 0xF);
      gotLo = (gotLo << 4) | (l & 0xF);
    }
    long diff = (gotHi ^ hi) | (gotLo ^ lo);
    return bad == 0 && diff == 0;
  }
}

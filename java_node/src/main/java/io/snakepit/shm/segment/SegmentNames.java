package io.snakepit.shm.segment;

import java.security.SecureRandom;

/**
 * Segment names: {@code /snk} followed by 22 lowercase base32 characters (110 random
 * bits from a SecureRandom), 26 characters with the slash, within macOS's 30.
 *
 * <p>Thread-safety: safe for concurrent use.
 */
public final class SegmentNames {
  /** The fixed prefix of every segment file name (without the slash). */
  public static final String PREFIX = "snk";
  /** Random characters after the prefix. */
  public static final int RANDOM_CHARS = 22;
  /** Random bits in a name: 5 per base32 character. */
  public static final int RANDOM_BITS = RANDOM_CHARS * 5;
  /** Longest POSIX shm name, with the slash, that every supported platform accepts. */
  public static final int MAX_NAME_CHARS = 30;

  private static final char[] BASE32 = "abcdefghijklmnopqrstuvwxyz234567".toCharArray();
  private final SecureRandom random = new SecureRandom();

  /** A new random file name (without the leading slash), e.g. {@code snkq3…}. */
  public String newFileName() {
    byte[] bytes = new byte[RANDOM_CHARS];
    random.nextBytes(bytes);
    StringBuilder sb = new StringBuilder(PREFIX.length() + RANDOM_CHARS).append(PREFIX);
    for (byte b : bytes) {
      sb.append(BASE32[b & 31]);
    }
    return sb.toString();
  }

  /** The POSIX shm name of a file name: a leading slash. */
  public static String shmName(String fileName) {
    return "/" + fileName;
  }

  /** True when {@code fileName} has the shape of a snakepit-shm segment file. */
  public static boolean isSegmentFileName(String fileName) {
    if (fileName.length() != PREFIX.length() + RANDOM_CHARS || !fileName.startsWith(PREFIX)) {
      return false;
    }
    for (int i = PREFIX.length(); i < fileName.length(); i++) {
      char c = fileName.charAt(i);
      if (!((c >= 'a' && c <= 'z') || (c >= '2' && c <= '7'))) {
        return false;
      }
    }
    return true;
  }
}

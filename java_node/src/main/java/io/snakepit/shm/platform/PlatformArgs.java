package io.snakepit.shm.platform;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/**
 * What every {@link SharedMemoryPlatform} implementation does the same way: argument
 * checks, C strings, and zeroing a range through a temporary mapping (the fallback of
 * {@code punchHole} where pages cannot be given back).
 *
 * <p>Thread-safety: stateless.
 */
final class PlatformArgs {
  private PlatformArgs() {}

  static void requireNonNegative(String what, long value) {
    if (value < 0) {
      throw new IllegalArgumentException(what + " must not be negative, was " + value);
    }
  }

  /** The checks of {@link SharedMemoryPlatform#map}: offset ≥ 0 and page-aligned, length > 0. */
  static void checkMapRange(long offsetBytes, long lengthBytes, long pageSizeBytes) {
    requireNonNegative("offsetBytes", offsetBytes);
    if (lengthBytes <= 0) {
      throw new IllegalArgumentException("lengthBytes must be positive, was " + lengthBytes);
    }
    if (offsetBytes % pageSizeBytes != 0) {
      throw new IllegalArgumentException("offsetBytes " + offsetBytes + " is not a multiple of the page size "
          + pageSizeBytes);
    }
  }

  /** The UTF-8 bytes of {@code s} with a terminating NUL. */
  static byte[] cString(String s) {
    if (s.indexOf('\0') >= 0) {
      throw new IllegalArgumentException("name contains a NUL character: " + s);
    }
    byte[] utf8 = s.getBytes(StandardCharsets.UTF_8);
    return Arrays.copyOf(utf8, utf8.length + 1);
  }

  /**
   * Writes zeros over the part of {@code [offsetBytes, offsetBytes + lengthBytes)} that lies
   * inside the object ({@code sizeBytes} long), through a temporary shared mapping of
   * {@code platform}. Pages stay allocated.
   */
  static void zeroThroughMapping(SharedMemoryPlatform platform, int fd, long offsetBytes, long lengthBytes,
      long sizeBytes, long pageSizeBytes, String name) {
    long endBytes = Math.min(offsetBytes + lengthBytes, sizeBytes);
    if (endBytes <= offsetBytes) {
      return;
    }
    long mapStartBytes = offsetBytes - offsetBytes % pageSizeBytes;
    Mapping mapping = platform.map(fd, mapStartBytes, endBytes - mapStartBytes, true, name);
    try {
      mapping.fill(offsetBytes - mapStartBytes, endBytes - offsetBytes, (byte) 0);
    } finally {
      platform.unmap(mapping);
    }
  }
}

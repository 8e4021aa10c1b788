package io.snakepit.shm.platform;

/**
 * The sizing rule of shared-memory objects that can be sized only once: macOS POSIX shm
 * (xnu's {@code pshm_truncate} refuses a second ftruncate with EINVAL and rounds the size
 * up to whole pages) and Windows sections (the size is fixed by CreateFileMapping). A
 * request for the size the object already has is allowed and does nothing, so a retry is
 * harmless; any other change is refused with a message that says why.
 */
final class SizeOnce {
  private SizeOnce() {}

  /**
   * Whether the object must be sized now.
   *
   * @param currentBytes the object's size now; 0 when it was never sized
   * @param requestedBytes the size asked for; must be positive
   * @param roundingBytes the unit the system rounds sizes up to (1 for none)
   * @param os "macOS" or "Windows", for the message
   * @param name the object's name, for the message
   * @return true when unsized (size it now); false when it already has this size
   * @throws IllegalArgumentException when {@code requestedBytes} is not positive
   * @throws PlatformException (EINVAL) when it already has another size
   */
  static boolean needsSizing(long currentBytes, long requestedBytes, long roundingBytes, String os, String name) {
    if (requestedBytes <= 0) {
      throw new IllegalArgumentException("the size of shared-memory object " + name + " must be positive on " + os
          + ", was " + requestedBytes);
    }
    if (currentBytes == 0) {
      return true;
    }
    if (currentBytes == roundUp(requestedBytes, roundingBytes)) {
      return false;
    }
    throw new PlatformException("ftruncate", name, PlatformException.EINVAL, os + " sizes a shared-memory object"
        + " only once; it already has " + currentBytes + " bytes, " + requestedBytes + " were asked for");
  }

  /**
   * {@code bytes} rounded up to a multiple of {@code unitBytes}.
   *
   * @throws IllegalArgumentException when the unit is not positive or the result overflows
   */
  static long roundUp(long bytes, long unitBytes) {
    if (unitBytes <= 0) {
      throw new IllegalArgumentException("rounding unit must be positive, was " + unitBytes);
    }
    long rem = bytes % unitBytes;
    if (rem == 0) {
      return bytes;
    }
    long rounded = bytes + (unitBytes - rem);
    if (rounded < bytes) {
      throw new IllegalArgumentException(bytes + " bytes rounded up to " + unitBytes + " overflows");
    }
    return rounded;
  }

  /**
   * Fails unless {@code [offsetBytes, offsetBytes + lengthBytes)} lies within an object of
   * {@code objectBytes}: such objects cannot grow, so a range past the end cannot be
   * reserved (Linux's posix_fallocate would grow the file).
   *
   * @throws PlatformException (EINVAL) for a range past the end
   */
  static void requireWithin(long offsetBytes, long lengthBytes, long objectBytes, String call, String os,
      String name) {
    if (offsetBytes < 0 || lengthBytes < 0) {
      throw new IllegalArgumentException("offset and length must not be negative, were " + offsetBytes + " and "
          + lengthBytes);
    }
    if (offsetBytes > objectBytes || lengthBytes > objectBytes - offsetBytes) {
      throw new PlatformException(call, name, PlatformException.EINVAL, "range [" + offsetBytes + ", "
          + (offsetBytes + lengthBytes) + ") lies past the end of the " + objectBytes + "-byte object, and " + os
          + " cannot grow a shared-memory object");
    }
  }
}

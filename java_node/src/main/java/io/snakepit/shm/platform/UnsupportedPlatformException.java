package io.snakepit.shm.platform;

/**
 * The operating system or CPU this JVM runs on has no {@link SharedMemoryPlatform}, or a
 * platform class was constructed on the wrong operating system. The message names what
 * was found and what is supported, on one line; {@link #toString()} is that message alone,
 * so a launcher that prints the exception prints one readable line.
 */
public final class UnsupportedPlatformException extends UnsupportedOperationException {
  private static final long serialVersionUID = 1L;

  public UnsupportedPlatformException(String message) {
    super(message);
  }

  /** The message alone, without the class name. */
  @Override
  public String toString() {
    return getMessage();
  }
}

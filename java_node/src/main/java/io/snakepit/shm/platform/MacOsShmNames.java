package io.snakepit.shm.platform;

import java.nio.charset.StandardCharsets;

/**
 * Names of macOS POSIX shared-memory objects. The namespace is flat and global to the
 * machine (no directory: the shm dir argument of {@link SharedMemoryPlatform} names
 * nothing on macOS); a name is a slash and one component.
 *
 * <p>Length: xnu copies at most {@code PSHMNAMLEN + 1} = 32 bytes including the NUL
 * ({@code pshm_get_name} in bsd/kern/posix_shm.c), so the kernel accepts 31 bytes and
 * fails longer names with ENAMETOOLONG. snakepit-shm keeps one byte of margin and allows
 * {@value #MAX_NAME_BYTES} bytes with the slash, the limit the project's contract states
 * (segment names are 26 bytes).
 */
final class MacOsShmNames {
  /** xnu's {@code PSHMNAMLEN}: longest name the kernel takes, without the NUL. */
  static final int KERNEL_MAX_NAME_BYTES = 31;
  /** Longest name snakepit-shm uses, with the slash, in UTF-8 bytes. */
  static final int MAX_NAME_BYTES = 30;

  private MacOsShmNames() {}

  /**
   * The POSIX shm name of a segment file name: {@code "/" + fileName}.
   *
   * @throws IllegalArgumentException when {@code fileName} is empty, ".", "..", holds a
   *     '/' or NUL, or makes a name longer than {@value #MAX_NAME_BYTES} bytes
   */
  static String shmName(String fileName) {
    if (fileName == null || fileName.isEmpty() || fileName.equals(".") || fileName.equals("..")
        || fileName.indexOf('/') >= 0 || fileName.indexOf('\0') >= 0) {
      throw new IllegalArgumentException("a macOS shared-memory name is one component without '/' or NUL, was '"
          + fileName + "'");
    }
    String name = "/" + fileName;
    int bytes = name.getBytes(StandardCharsets.UTF_8).length;
    if (bytes > MAX_NAME_BYTES) {
      throw new IllegalArgumentException("macOS shared-memory name '" + name + "' has " + bytes + " bytes; at most "
          + MAX_NAME_BYTES + " are allowed with the slash (the kernel's PSHMNAMLEN is " + KERNEL_MAX_NAME_BYTES + ")");
    }
    return name;
  }

  /**
   * Why a new object's permission bits differ from those asked for, or null when they are
   * equal. xnu stores the mode given to shm_open without applying the umask, and macOS
   * has no fchmod for shm objects, so a difference is checked, not repaired.
   */
  static String modeProblem(int actualMode, int requestedMode) {
    int actual = actualMode & 07777;
    if (actual == requestedMode) {
      return null;
    }
    return "created with mode " + Integer.toOctalString(actual) + " instead of " + Integer.toOctalString(requestedMode);
  }
}

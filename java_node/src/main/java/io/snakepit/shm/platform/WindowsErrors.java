package io.snakepit.shm.platform;

/**
 * Win32 error codes (GetLastError) that WindowsPlatform meets, and the errno
 * {@link PlatformException} carries for each so the layers above, which compare with
 * errno values, act the same as on Linux. The Win32 code and its text stay in the message.
 */
final class WindowsErrors {
  static final int ERROR_FILE_NOT_FOUND = 2;
  static final int ERROR_PATH_NOT_FOUND = 3;
  static final int ERROR_ACCESS_DENIED = 5;
  static final int ERROR_INVALID_HANDLE = 6;
  static final int ERROR_NOT_ENOUGH_MEMORY = 8;
  static final int ERROR_OUTOFMEMORY = 14;
  static final int ERROR_NOT_SUPPORTED = 50;
  static final int ERROR_FILE_EXISTS = 80;
  static final int ERROR_INVALID_PARAMETER = 87;
  static final int ERROR_DISK_FULL = 112;
  static final int ERROR_INSUFFICIENT_BUFFER = 122;
  static final int ERROR_INVALID_NAME = 123;
  static final int ERROR_ALREADY_EXISTS = 183;
  static final int ERROR_FILENAME_EXCED_RANGE = 206;
  static final int ERROR_MAPPED_ALIGNMENT = 1132;
  static final int ERROR_PRIVILEGE_NOT_HELD = 1314;
  static final int ERROR_COMMITMENT_LIMIT = 1455;

  private static final int EBADF = 9;
  private static final int EIO = 5;
  private static final int ENAMETOOLONG = 36;

  private WindowsErrors() {}

  /**
   * The errno for a Win32 error of {@code call}. Running out of memory while creating a
   * section (its pages are committed at once) is ENOSPC, the "no room" of a full tmpfs;
   * while mapping a view it is ENOMEM, a full address space, as for mmap.
   */
  static int toErrno(String call, int win32) {
    boolean creating = call.startsWith("CreateFileMapping");
    return switch (win32) {
      case ERROR_FILE_NOT_FOUND, ERROR_PATH_NOT_FOUND -> PlatformException.ENOENT;
      case ERROR_ACCESS_DENIED -> PlatformException.EACCES;
      case ERROR_PRIVILEGE_NOT_HELD -> PlatformException.EPERM;
      case ERROR_INVALID_HANDLE -> EBADF;
      case ERROR_NOT_ENOUGH_MEMORY, ERROR_OUTOFMEMORY -> creating ? PlatformException.ENOSPC : PlatformException.ENOMEM;
      case ERROR_COMMITMENT_LIMIT, ERROR_DISK_FULL -> PlatformException.ENOSPC;
      case ERROR_ALREADY_EXISTS, ERROR_FILE_EXISTS -> PlatformException.EEXIST;
      case ERROR_INVALID_PARAMETER, ERROR_INVALID_NAME, ERROR_MAPPED_ALIGNMENT -> PlatformException.EINVAL;
      case ERROR_FILENAME_EXCED_RANGE -> ENAMETOOLONG;
      case ERROR_NOT_SUPPORTED -> PlatformException.EOPNOTSUPP;
      default -> EIO;
    };
  }

  /** The strerror part of a message: the system's text and the Win32 code. */
  static String describe(String systemText, int win32) {
    String text = systemText == null || systemText.isBlank() ? "Windows error" : systemText.strip();
    return text + " (Win32 error " + win32 + ")";
  }

  /** A PlatformException for a failed Win32 call. */
  static PlatformException error(String call, String name, int win32, String systemText) {
    return new PlatformException(call, name, toErrno(call, win32), describe(systemText, win32));
  }
}

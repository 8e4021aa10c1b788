package io.snakepit.shm.platform;

/**
 * A failed OS call: which call, on which segment (or path), errno and strerror.
 * Unchecked so that layers above translate it into a protocol error at one place.
 */
public final class PlatformException extends RuntimeException {
  private static final long serialVersionUID = 1L;

  /** errno values the layers above act on (Linux numbering; other platforms map to these). */
  public static final int EPERM = 1;
  public static final int ENOENT = 2;
  public static final int ESRCH = 3;
  public static final int EACCES = 13;
  public static final int EEXIST = 17;
  public static final int ENOMEM = 12;
  public static final int EINVAL = 22;
  public static final int ENOSPC = 28;
  public static final int ELOOP = 40;
  public static final int ENOSYS = 38;
  public static final int EOPNOTSUPP = 95;

  private final String call;
  private final String name;
  private final int errno;
  private final String strerror;

  public PlatformException(String call, String name, int errno, String strerror) {
    super(call + "(" + name + ") failed: errno " + errno + " (" + strerror + ")");
    this.call = call;
    this.name = name;
    this.errno = errno;
    this.strerror = strerror;
  }

  /** The OS call that failed, e.g. "posix_fallocate". */
  public String call() {
    return call;
  }

  /** The segment name or path the call was about. */
  public String name() {
    return name;
  }

  public int errno() {
    return errno;
  }

  public String strerror() {
    return strerror;
  }

  /** True when the file system has no room (ENOSPC). */
  public boolean isNoSpace() {
    return errno == ENOSPC;
  }

  /** True when the address space or memory ran out (ENOMEM). */
  public boolean isNoMemory() {
    return errno == ENOMEM;
  }
}

package io.snakepit.shm.platform;

/**
 * The kernel object namespace Windows sections are named in.
 *
 * <p>{@link #LOCAL} ({@code Local\}) is the namespace of the caller's logon session: the
 * manager and the Python workers it serves must run in the same session (one user logged
 * on, or one service's session). {@link #GLOBAL} ({@code Global\}) spans sessions, but
 * creating a section there needs the SeCreateGlobalPrivilege privilege (services and
 * administrators have it; ordinary users do not, and CreateFileMapping fails with
 * ERROR_ACCESS_DENIED). Local is the default for that reason.
 */
public enum WindowsNamespace {
  LOCAL("Local\\"),
  GLOBAL("Global\\");

  /** Longest object name this project uses, prefix included; far below the kernel's limit (MAX_PATH). */
  static final int MAX_OBJECT_NAME_CHARS = 260;

  private final String prefix;

  WindowsNamespace(String prefix) {
    this.prefix = prefix;
  }

  /** {@code Local\} or {@code Global\}. */
  public String prefix() {
    return prefix;
  }

  /**
   * The section name of a segment file name, e.g. {@code Local\snkabc...}.
   *
   * @throws IllegalArgumentException when {@code fileName} is empty, holds a '\' or '/'
   *     (a backslash would name another namespace), a NUL, or makes the name too long
   */
  String objectName(String fileName) {
    if (fileName == null || fileName.isEmpty() || fileName.indexOf('\\') >= 0 || fileName.indexOf('/') >= 0
        || fileName.indexOf('\0') >= 0) {
      throw new IllegalArgumentException("a Windows section name is one component without '\\', '/' or NUL, was '"
          + fileName + "'");
    }
    String name = prefix + fileName;
    if (name.length() > MAX_OBJECT_NAME_CHARS) {
      throw new IllegalArgumentException("Windows section name '" + name + "' has " + name.length()
          + " characters; at most " + MAX_OBJECT_NAME_CHARS + " are allowed");
    }
    return name;
  }
}

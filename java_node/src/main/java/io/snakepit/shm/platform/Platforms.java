package io.snakepit.shm.platform;

/**
 * Picks the {@link SharedMemoryPlatform} of the operating system this JVM runs on:
 * {@link LinuxPlatform}, {@link MacOsPlatform} or {@link WindowsPlatform} (in the
 * {@link WindowsNamespace#LOCAL} namespace). Only the selected class is constructed, and
 * only it loads a native library.
 */
public final class Platforms {
  private Platforms() {}

  /**
   * The platform of the current operating system.
   *
   * @throws UnsupportedPlatformException on any other operating system or CPU
   */
  public static SharedMemoryPlatform forCurrentOs() {
    return forOs(System.getProperty("os.name"), System.getProperty("os.arch"));
  }

  /**
   * The family of the operating system this JVM runs on, without constructing (or binding
   * the native library of) its platform: what a command checks first, so that an
   * unsupported OS or CPU gets its one-line error before anything else happens.
   *
   * @throws UnsupportedPlatformException on any other operating system or CPU
   */
  public static OsFamily currentFamily() {
    return select(System.getProperty("os.name"), System.getProperty("os.arch"));
  }

  /** {@link #forCurrentOs()} for the given {@code os.name} and {@code os.arch} values. */
  static SharedMemoryPlatform forOs(String osName, String osArch) {
    return forFamily(select(osName, osArch));
  }

  /**
   * The platform of {@code family}, constructed (which binds its native library).
   *
   * @throws UnsupportedPlatformException when {@code family} is not the OS this JVM runs on
   */
  public static SharedMemoryPlatform forFamily(OsFamily family) {
    return switch (family) {
      case LINUX -> new LinuxPlatform();
      case MACOS -> new MacOsPlatform();
      case WINDOWS -> new WindowsPlatform(WindowsNamespace.LOCAL);
    };
  }

  /**
   * Which platform {@code os.name} and {@code os.arch} call for, without constructing it.
   *
   * @throws UnsupportedPlatformException for an operating system or CPU without one; the
   *     message says what is supported and what to do
   */
  public static OsFamily select(String osName, String osArch) {
    OsFamily family = OsFamily.fromOsName(osName);
    if (family == null) {
      throw new UnsupportedPlatformException("no shared-memory platform for " + osName + " (" + osArch
          + "): snakepit-shm runs on Linux, macOS and Windows (x86_64 or arm64); run the manager on one of"
          + " those (see docs/PLATFORMS.md)");
    }
    if (!OsFamily.isSupportedArch(osArch)) {
      throw new UnsupportedPlatformException("no shared-memory platform for " + osName + " on " + osArch
          + ": snakepit-shm supports x86_64 and arm64 only (the structure layouts of other CPUs are not"
          + " described); run a 64-bit JVM on x86_64 or arm64 (see docs/PLATFORMS.md)");
    }
    return family;
  }
}

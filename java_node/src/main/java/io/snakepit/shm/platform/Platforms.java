package io.snakepit.shm.platform;

/** Picks the {@link SharedMemoryPlatform} of the operating system this JVM runs on. */
public final class Platforms {
  private Platforms() {}

  /**
   * The platform of the current operating system: {@link LinuxPlatform} on Linux.
   *
   * @throws UnsupportedOperationException on any other operating system (macOS and Windows
   *     implementations are planned), or on a Linux CPU architecture without a described ABI
   */
  public static SharedMemoryPlatform forCurrentOs() {
    return forOs(System.getProperty("os.name"), System.getProperty("os.arch"));
  }

  /** {@link #forCurrentOs()} for the given {@code os.name} and {@code os.arch} values. */
  static SharedMemoryPlatform forOs(String osName, String osArch) {
    if (osName.startsWith("Linux")) {
      return new LinuxPlatform();
    }
    throw new UnsupportedOperationException("snakepit-shm has no shared-memory platform for " + osName
        + " (" + osArch + ") yet: only Linux (x86_64, aarch64) is implemented; macOS and Windows"
        + " implementations are planned. Run the manager on Linux.");
  }
}

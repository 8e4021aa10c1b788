package io.snakepit.shm.platform;

import java.util.Collections;
import java.util.EnumSet;
import java.util.Locale;
import java.util.Set;

/** The operating systems with a {@link SharedMemoryPlatform}, and what each can do. */
public enum OsFamily {
  LINUX(EnumSet.allOf(PlatformFeature.class)),
  MACOS(EnumSet.of(PlatformFeature.UNLINK_REMOVES_NAME)),
  WINDOWS(EnumSet.of(PlatformFeature.RESERVED_BACKING));

  private final Set<PlatformFeature> features;

  OsFamily(Set<PlatformFeature> features) {
    this.features = Collections.unmodifiableSet(features);
  }

  /** The features this operating system's platform has (unmodifiable). */
  public Set<PlatformFeature> features() {
    return features;
  }

  /**
   * The family of a Java {@code os.name} value ("Linux", "Mac OS X", "Windows 11",
   * "Windows Server 2022", ...), or null for any other operating system.
   */
  public static OsFamily fromOsName(String osName) {
    if (osName == null) {
      return null;
    }
    String name = osName.trim().toLowerCase(Locale.ROOT);
    if (name.startsWith("linux")) {
      return LINUX;
    }
    if (name.startsWith("mac os") || name.startsWith("macos") || name.startsWith("darwin")) {
      return MACOS;
    }
    if (name.startsWith("windows")) {
      return WINDOWS;
    }
    return null;
  }

  /**
   * True for a Java {@code os.arch} value of a 64-bit little-endian CPU this project
   * describes: x86_64 ("amd64", "x86_64") or 64-bit ARM ("aarch64", "arm64").
   */
  public static boolean isSupportedArch(String osArch) {
    if (osArch == null) {
      return false;
    }
    String arch = osArch.trim().toLowerCase(Locale.ROOT);
    return arch.equals("amd64") || arch.equals("x86_64") || arch.equals("aarch64") || arch.equals("arm64");
  }
}

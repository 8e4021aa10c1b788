package io.snakepit.shm.platform;

import java.nio.file.Path;

/**
 * What the layers above tell people about where segments live, worded for each
 * {@link OsFamily}. On Linux segments are files in a tmpfs (the shm dir), so a full system
 * is a full file system, grown with {@code mount -o remount}. On macOS segments are POSIX
 * shared-memory objects backed by memory (RAM, the compressor and swap); on Windows they
 * are sections charged against the commit limit (RAM + paging files). There the
 * {@code --shm-dir} directory holds no segment: it is a private state directory
 * (docs/PLATFORMS.md). The figures come from {@link SharedMemoryPlatform#statFs}, which
 * reports exactly those stores.
 *
 * <p>Stateless; every method is a pure function of its arguments.
 */
public final class PlatformText {
  private static final long MIB = 1L << 20;

  private PlatformText() {}

  /** What the {@code --shm-dir} directory is: "shm dir" on Linux, "state dir" on macOS and Windows. */
  public static String dirNoun(OsFamily family) {
    return family == OsFamily.LINUX ? "shm dir" : "state dir";
  }

  /**
   * Why segments are not files that can be read or listed in the shm dir, or null on Linux,
   * where they are. E.g. "on macOS segments are POSIX shared-memory objects, not files, and
   * their namespace cannot be listed".
   */
  public static String segmentsNotFiles(OsFamily family) {
    return switch (family) {
      case LINUX -> null;
      case MACOS -> "on macOS segments are POSIX shared-memory objects, not files, and their namespace cannot be"
          + " listed";
      case WINDOWS -> "on Windows segments are named sections backed by the paging file, not files, and are not"
          + " listed";
    };
  }

  /**
   * Why a stale sweep cannot list segments on {@code family}, with what that means, or null
   * where it can (Linux). Said in the log, by {@code snakepit-shm sweep} and in the health
   * check, so that nobody reads "0 scanned" as "nothing stale".
   */
  public static String segmentListingUnavailable(OsFamily family) {
    return switch (family) {
      case LINUX -> null;
      case MACOS -> "segment listing is not available: " + segmentsNotFiles(family) + "; segments of a manager"
          + " that died stay until reboot (docs/PLATFORMS.md)";
      case WINDOWS -> "segment listing is not available: " + segmentsNotFiles(family) + "; none is needed, as a"
          + " section goes away when the last handle to it closes (docs/PLATFORMS.md)";
    };
  }

  /** The detail of the health check {@code shm_dir}: what backs segments and how much is left. */
  public static String capacityDetail(OsFamily family, Path dir, SharedMemoryPlatform.FsStat fs) {
    long free = fs.availableBytes() / MIB;
    long total = fs.totalBytes() / MIB;
    return switch (family) {
      case LINUX -> dir + ": " + free + " MiB free of " + total + " MiB";
      case MACOS -> "segments are POSIX shared-memory objects in memory: about " + free + " MiB available of "
          + total + " MiB (an estimate: the compressor and swap stretch it); state dir " + dir + "; "
          + segmentListingUnavailable(family);
      case WINDOWS -> "segments are sections charged against the commit limit (RAM + paging files): " + free
          + " MiB available of " + total + " MiB; state dir " + dir + "; " + segmentListingUnavailable(family);
    };
  }

  /**
   * The message of a {@code :no_space} error: what could not back {@code requested} more
   * bytes, with its figures when {@code fs} is known (null: unknown).
   */
  public static String noSpaceMessage(OsFamily family, Path dir, SharedMemoryPlatform.FsStat fs, long requested) {
    String sizes = fs == null ? "" : " (" + (fs.availableBytes() / MIB) + " MiB available of "
        + (fs.totalBytes() / MIB) + " MiB)";
    return switch (family) {
      case LINUX -> "the shm dir " + dir + (fs == null ? "" : " (size " + (fs.totalBytes() >> 20) + " MiB, "
          + (fs.availableBytes() >> 20) + " MiB free)") + " cannot back " + requested + " more bytes";
      case MACOS -> "macOS could not back a shared-memory object for " + requested + " more bytes: memory is short"
          + sizes;
      case WINDOWS -> "the commit limit (RAM + paging files" + (fs == null ? "" : ", " + (fs.availableBytes() / MIB)
          + " MiB available of " + (fs.totalBytes() / MIB) + " MiB") + ") cannot back " + requested
          + " more bytes";
    };
  }

  /** The remediation of a {@code :no_space} error. */
  public static String noSpaceRemediation(OsFamily family, Path dir) {
    return switch (family) {
      case LINUX -> "Free regions, or give " + dir + " more room (mount -o remount,size=N " + dir
          + "); in a container raise --shm-size (Docker's default /dev/shm is 64 MB).";
      case MACOS -> "Free regions, lower max_total_bytes, or free memory on this Mac: shared memory comes from RAM,"
          + " the compressor and swap, not from a file system.";
      case WINDOWS -> "Free regions, lower max_total_bytes, or raise the commit limit: enlarge the paging file"
          + " (System properties > Advanced > Performance > Virtual memory) or add RAM. Every segment is charged"
          + " in full when it is created.";
    };
  }

  /** The message of the {@code capacity.shm_dir} alert at {@code percent} used. */
  public static String capacityAlertMessage(OsFamily family, Path dir, double percent,
      SharedMemoryPlatform.FsStat fs) {
    long free = fs.availableBytes() / MIB;
    long total = fs.totalBytes() / MIB;
    return switch (family) {
      case LINUX -> String.format("the shm dir %s is %.1f%% full (%d MiB free of %d MiB)", dir, percent, free, total);
      case MACOS -> String.format("memory is %.1f%% used (about %d MiB available of %d MiB)", percent, free, total);
      case WINDOWS -> String.format("the commit charge is %.1f%% of the commit limit (%d MiB available of %d MiB)",
          percent, free, total);
    };
  }

  /** What to do about the {@code capacity.shm_dir} alert. */
  public static String capacityAlertAdvice(OsFamily family, Path dir, SharedMemoryPlatform.FsStat fs) {
    return switch (family) {
      case LINUX -> {
        long grow = Math.max(fs.totalBytes() / 2, 64 * MIB);
        yield "Grow it by about " + grow / MIB + " MiB (mount -o remount,size=" + (fs.totalBytes() + grow) / MIB
            + "m " + dir + "; in a container raise --shm-size), or free regions (report lists the largest holders).";
      }
      case MACOS -> "Free regions (report lists the largest holders), lower max_total_bytes, or free memory on this"
          + " Mac: shared memory comes from RAM, the compressor and swap.";
      case WINDOWS -> "Free regions (report lists the largest holders), or enlarge the paging file or add RAM:"
          + " every segment is charged in full against the commit limit when it is created.";
    };
  }
}

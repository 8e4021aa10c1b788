package io.snakepit.shm.segment;

import io.snakepit.shm.platform.OsFamily;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Map;

/**
 * Checks that the shm dir and the segment files in it are as safe as the node made them
 * (SECURITY.md): the dir is a real directory, not a symbolic link, and not writable by
 * everyone unless sticky (else another user could delete or replace segments); each
 * segment file still exists with mode 0600 and this user as owner. The node checks the
 * dir at start (refusing to start) and again periodically (reporting security events).
 *
 * <p>On macOS and Windows segments are not files: the directory is a private state
 * directory of the node (docs/PLATFORMS.md), so it must be a real directory of this user
 * that group and others cannot write (where the file system has POSIX modes; on Windows
 * only existence is checked here, the node creates its default state dir owner-only).
 *
 * <p>Thread-safety: stateless; safe from any thread.
 */
public final class ShmDirGuard {
  private static final int OTHERS_WRITE = 0002;
  private static final int GROUP_OR_OTHERS_WRITE = 0022;
  private static final int STICKY = 01000;
  private static final int PERMISSION_BITS = 07777;
  private static final int SEGMENT_MODE = 0600;

  private ShmDirGuard() {}

  /** What is wrong with the Linux shm dir {@code dir}, with the remedy, or null when it is safe to use. */
  public static String dirProblem(Path dir) {
    return dirProblem(dir, OsFamily.LINUX);
  }

  /**
   * What is wrong with {@code dir} as the shm dir of a node on {@code family}, with the
   * remedy, or null when it is safe to use. Linux: a real directory, not world-writable
   * unless sticky (it is shared, like /dev/shm). macOS and Windows: a real directory; where
   * POSIX modes exist also owned by this user and not writable by group or others.
   */
  public static String dirProblem(Path dir, OsFamily family) {
    String noun = family == OsFamily.LINUX ? "shm dir " : "state dir ";
    if (Files.isSymbolicLink(dir)) {
      return noun + dir + " is a symbolic link; name the real directory";
    }
    if (!Files.isDirectory(dir, LinkOption.NOFOLLOW_LINKS)) {
      return noun + dir + " does not exist or is not a directory";
    }
    Integer mode = mode(dir);
    if (family != OsFamily.LINUX) {
      return stateDirProblem(dir, mode);
    }
    if (mode != null && (mode & OTHERS_WRITE) != 0 && (mode & STICKY) == 0) {
      return "shm dir " + dir + " is world-writable without the sticky bit (mode "
          + Integer.toOctalString(mode & PERMISSION_BITS) + "); run chmod +t " + dir + " or use another directory";
    }
    return null;
  }

  private static String stateDirProblem(Path dir, Integer mode) {
    if (mode == null) {
      return null; // no POSIX modes (Windows): nothing more to compare
    }
    if ((mode & GROUP_OR_OTHERS_WRITE) != 0) {
      return "state dir " + dir + " can be written by group or others (mode "
          + Integer.toOctalString(mode & PERMISSION_BITS) + "); run chmod 700 " + dir + " or use another directory";
    }
    long own = ownUid();
    Long uid = uid(dir);
    if (own >= 0 && uid != null && uid != own) {
      return "state dir " + dir + " belongs to uid " + uid + ", not to this user (" + own
          + "); use a directory of your own";
    }
    return null;
  }

  /**
   * What is wrong with the file of {@code segment}, or null when it still exists with
   * mode 0600 and owner {@code ownUid}.
   */
  public static String segmentProblem(Segment segment, long ownUid) {
    Path p = segment.path();
    Map<String, Object> a;
    try {
      a = Files.readAttributes(p, "unix:mode,uid", LinkOption.NOFOLLOW_LINKS);
    } catch (NoSuchFileException e) {
      return "segment file " + p + " was removed by another process (mapped regions keep working; "
          + "new attaches to it fail)";
    } catch (IOException | UnsupportedOperationException e) {
      return null; // a file system without unix attributes: nothing to compare
    }
    int mode = (Integer) a.get("mode") & PERMISSION_BITS;
    long uid = ((Integer) a.get("uid")).longValue() & 0xFFFFFFFFL;
    if (mode != SEGMENT_MODE) {
      return "segment file " + p + " has mode " + Integer.toOctalString(mode) + ", not 600: another process "
          + "changed it";
    }
    if (uid != ownUid) {
      return "segment file " + p + " is owned by uid " + uid + ", not this user (" + ownUid + ")";
    }
    return null;
  }

  /**
   * This process's user id (the owner its segment files get), or -1 when unknown (Windows).
   * Linux: the owner of /proc/self; elsewhere (macOS has no /proc) {@link #uidFromJdk()}.
   */
  public static long ownUid() {
    try {
      Object uid = Files.getAttribute(Path.of("/proc/self"), "unix:uid");
      return ((Integer) uid).longValue() & 0xFFFFFFFFL;
    } catch (IOException | UnsupportedOperationException | IllegalArgumentException e) {
      return uidFromJdk();
    }
  }

  /**
   * The real user id as the JDK's {@code com.sun.security.auth.module.UnixSystem} reports it
   * (getuid(2), in the jdk.security.auth module of every JDK on Linux and macOS), or -1
   * where there is none (Windows) or the module is missing.
   */
  static long uidFromJdk() {
    try {
      Class<?> unix = Class.forName("com.sun.security.auth.module.UnixSystem");
      Object uid = unix.getMethod("getUid").invoke(unix.getConstructor().newInstance());
      return ((Long) uid) & 0xFFFFFFFFL;
    } catch (ReflectiveOperationException | LinkageError | RuntimeException e) {
      return -1;
    }
  }

  private static Long uid(Path p) {
    try {
      return ((Integer) Files.getAttribute(p, "unix:uid", LinkOption.NOFOLLOW_LINKS)).longValue() & 0xFFFFFFFFL;
    } catch (IOException | UnsupportedOperationException | IllegalArgumentException e) {
      return null;
    }
  }

  private static Integer mode(Path p) {
    try {
      return (Integer) Files.getAttribute(p, "unix:mode", LinkOption.NOFOLLOW_LINKS);
    } catch (IOException | UnsupportedOperationException e) {
      return null;
    }
  }
}

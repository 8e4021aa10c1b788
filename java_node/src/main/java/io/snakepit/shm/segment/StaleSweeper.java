package io.snakepit.shm.segment;

import io.snakepit.shm.platform.PlatformException;
import io.snakepit.shm.platform.PlatformFeature;
import io.snakepit.shm.platform.PlatformText;
import io.snakepit.shm.platform.SharedMemoryPlatform;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.IntConsumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Reclaims segments left in the shm dir by managers that are provably dead, never those
 * of a live manager (docs/OPERATIONS.md, "Stale segments").
 *
 * <p>A segment's header names its manager: node name, OS pid, that process's start time
 * and the boot id. The owner is dead when the boot id differs from this boot's, or when
 * no process with that pid runs, or the process with that pid started at another time
 * (the pid was reused). A live owner's segments are left alone whatever its node name, so
 * managers of different names may share a shm dir. A file without a valid header is a
 * segment being created (the magic is written last) unless its creator died: creators hold
 * an OFD lock on byte 0 until the header is published, so a headerless file that nobody
 * locks and that is older than a moment is reclaimed; anything else is counted and left.
 *
 * <p>Reclaiming zeroes the file (hole punch over all of it, so a process that still maps
 * it reads zeros) and unlinks it. Two sweeps racing each other are safe: the loser of
 * an unlink gets ENOENT, which is ignored, and both decisions are the same because a
 * dead process stays dead.
 *
 * <p>Where segments are not files in a listable directory (macOS, Windows: no
 * {@link PlatformFeature#SEGMENT_DIRECTORY}) a sweep lists nothing and says so: its result
 * has {@link Result#listed()} false and the reason, logged at INFO the first time (the shm
 * dir is only a state directory there and holds no segment).
 *
 * <p>Thread-safety: stateless apart from the platform; call from one thread at a time.
 */
public final class StaleSweeper {
  private static final Logger LOG = LoggerFactory.getLogger(StaleSweeper.class);
  /** A headerless unlocked file younger than this may be between open(2) and its creation lock. */
  static final long CREATION_GRACE_MS = 2000;

  private final SharedMemoryPlatform platform;
  private final Path shmDir;
  private final ManagerInstance self;
  private boolean unavailableLogged;

  public StaleSweeper(SharedMemoryPlatform platform, Path shmDir, ManagerInstance self) {
    this.platform = platform;
    this.shmDir = shmDir;
    this.self = self;
  }

  /**
   * What a sweep saw and did. {@code unavailable}: why segments could not be listed on this
   * platform (then every count is 0 because nothing was looked at), or null when they were.
   */
  public record Result(int scanned, int reclaimed, long reclaimedBytes, int live, int own, int unreadable,
      long durationMs, boolean dryRun, String unavailable) {
    /** A sweep that listed the shm dir. */
    public Result(int scanned, int reclaimed, long reclaimedBytes, int live, int own, int unreadable,
        long durationMs, boolean dryRun) {
      this(scanned, reclaimed, reclaimedBytes, live, own, unreadable, durationMs, dryRun, null);
    }

    /** True when the segments were listed, false where the platform cannot list them. */
    public boolean listed() {
      return unavailable == null;
    }
  }

  /**
   * Why this platform's segments cannot be listed, or null when they can (they are files
   * in the shm dir).
   */
  public String unavailableReason() {
    if (platform.features().contains(PlatformFeature.SEGMENT_DIRECTORY)) {
      return null;
    }
    String why = PlatformText.segmentListingUnavailable(platform.family());
    return why != null ? why : "segment listing is not available: segments are not files on this platform";
  }

  /**
   * Why an owner is dead, or null when it may be alive: another boot, no process with its
   * pid, or that pid now belongs to a process that started at another time. Also used by
   * the diagnostics CLI to tell live managers from dead ones.
   */
  public String deathOf(ManagerInstance owner, byte[] bootId) {
    if (!Arrays.equals(owner.bootId(), bootId)) {
      return "it ran in an earlier boot";
    }
    long ticks = platform.processStartTicks(owner.osPid());
    if (ticks < 0) {
      return "no process " + owner.osPid() + " runs";
    }
    if (ticks != owner.startTicks()) {
      return "pid " + owner.osPid() + " now belongs to another process";
    }
    return null;
  }

  /** Sweeps once. {@code dryRun}: decide and report, change nothing. */
  public Result sweep(boolean dryRun) {
    return sweep(dryRun, n -> {});
  }

  /** Sweeps once, calling {@code progress} with the count of files examined so far. */
  public Result sweep(boolean dryRun, IntConsumer progress) {
    long startNs = System.nanoTime();
    String unavailable = unavailableReason();
    if (unavailable != null) {
      if (!unavailableLogged) {
        unavailableLogged = true;
        LOG.info("stale sweep skipped: {}", unavailable);
      } else {
        LOG.debug("stale sweep skipped: {}", unavailable);
      }
      return new Result(0, 0, 0, 0, 0, 0, (System.nanoTime() - startNs) / 1_000_000, dryRun, unavailable);
    }
    byte[] bootId = platform.bootId();
    int scanned = 0;
    int reclaimed = 0;
    int live = 0;
    int own = 0;
    int unreadable = 0;
    long bytes = 0;
    Map<String, int[]> reclaimedByOwner = new LinkedHashMap<>();
    Map<String, String> reasonByOwner = new LinkedHashMap<>();
    ByteBuffer buf = ByteBuffer.allocate(SegmentHeaderLayout.HEADER_BYTES);
    try (DirectoryStream<Path> dir = Files.newDirectoryStream(shmDir)) {
      for (Path p : dir) {
        String name = p.getFileName().toString();
        if (!SegmentNames.isSegmentFileName(name)) {
          continue;
        }
        scanned++;
        progress.accept(scanned);
        SegmentHeaderLayout.Header h = readHeader(p, buf);
        if (h == null) {
          String orphan = orphanedCreation(p, name);
          if (orphan != null && (dryRun || reclaim(name, sizeOf(p)))) {
            reclaimed++;
            reclaimedByOwner.computeIfAbsent("(unknown: header never written)", k -> new int[1])[0]++;
            reasonByOwner.putIfAbsent("(unknown: header never written)", orphan);
          } else {
            unreadable++;
          }
          continue;
        }
        if (h.owner().equals(self)) {
          own++;
          continue;
        }
        String death = deathOf(h.owner(), bootId);
        if (death == null) {
          live++;
          continue;
        }
        if (dryRun || reclaim(name, h.segmentBytes())) {
          reclaimed++;
          bytes += h.segmentBytes();
          String who = h.owner().toString();
          reclaimedByOwner.computeIfAbsent(who, k -> new int[1])[0]++;
          reasonByOwner.putIfAbsent(who, death);
        }
      }
    } catch (IOException e) {
      throw new PlatformException("opendir", shmDir.toString(), PlatformException.EACCES, e.getMessage());
    }
    for (Map.Entry<String, int[]> e : reclaimedByOwner.entrySet()) {
      LOG.info("stale sweep: {} {} segment(s) of dead manager {}: {}", dryRun ? "would reclaim" : "reclaimed",
          e.getValue()[0], e.getKey(), reasonByOwner.get(e.getKey()));
    }
    Result r = new Result(scanned, reclaimed, bytes, live, own, unreadable,
        (System.nanoTime() - startNs) / 1_000_000, dryRun);
    if (scanned > own) {
      LOG.info("stale sweep of {}: {} scanned, {} {} ({} bytes), {} of live managers, {} without a valid header,"
          + " in {} ms", shmDir, r.scanned(), dryRun ? "would reclaim" : "reclaimed", r.reclaimed(),
          r.reclaimedBytes(), r.live(), r.unreadable(), r.durationMs());
    }
    return r;
  }

  /**
   * Why a file without a valid header is the remains of a creation whose creator died, or
   * null when it may still be being created (or is not ours). A creator holds an OFD lock
   * on byte 0 from creating the file until its header is published (SegmentStore), and the
   * kernel drops that lock when the creator dies; so an unlocked headerless file is
   * orphaned, once it is older than {@link #CREATION_GRACE_MS} (the instant between
   * open(2) and the lock).
   */
  private String orphanedCreation(Path p, String name) {
    try {
      long ageMs = System.currentTimeMillis() - Files.getLastModifiedTime(p, LinkOption.NOFOLLOW_LINKS).toMillis();
      if (ageMs < CREATION_GRACE_MS) {
        return null;
      }
      int fd = platform.openExisting(shmDir, name, true);
      try {
        if (platform.isWriteLockedByOthers(fd, SegmentStore.CREATION_LOCK_OFFSET, 1, name)) {
          return null;
        }
      } finally {
        platform.close(fd);
      }
      return "its creator died before writing its header (no creation lock, " + ageMs / 1000 + " s old)";
    } catch (IOException | PlatformException e) {
      return null;
    }
  }

  private static long sizeOf(Path p) {
    try {
      return Files.size(p);
    } catch (IOException e) {
      return 0;
    }
  }

  private static SegmentHeaderLayout.Header readHeader(Path p, ByteBuffer buf) {
    buf.clear();
    try (FileChannel ch = FileChannel.open(p, StandardOpenOption.READ, LinkOption.NOFOLLOW_LINKS)) {
      while (buf.hasRemaining() && ch.read(buf) >= 0) {
        // read the whole header
      }
    } catch (IOException e) {
      return null;
    }
    buf.flip();
    return SegmentHeaderLayout.read(buf);
  }

  /** Zeroes and unlinks one stale segment; false when another sweep was first. */
  private boolean reclaim(String name, long sizeBytes) {
    int fd;
    try {
      fd = platform.openExisting(shmDir, name, true);
    } catch (PlatformException e) {
      if (e.errno() == PlatformException.ENOENT) {
        return false;
      }
      LOG.warn("stale sweep: cannot open {}: {}", name, e.getMessage());
      return false;
    }
    try {
      platform.punchHole(fd, 0, Math.max(sizeBytes, 0), name);
    } catch (PlatformException e) {
      LOG.warn("stale sweep: cannot zero {}: {}", name, e.getMessage());
    } finally {
      platform.close(fd);
    }
    try {
      platform.unlink(shmDir, name);
      return true;
    } catch (PlatformException e) {
      if (e.errno() != PlatformException.ENOENT) {
        LOG.warn("stale sweep: cannot unlink {}: {}", name, e.getMessage());
      }
      return false;
    }
  }
}

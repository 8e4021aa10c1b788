package io.snakepit.shm.bench;

import io.snakepit.shm.platform.Platforms;
import io.snakepit.shm.platform.SharedMemoryPlatform;
import io.snakepit.shm.registry.Access;
import io.snakepit.shm.registry.AllocateRequest;
import io.snakepit.shm.registry.Holder;
import io.snakepit.shm.registry.HolderListener;
import io.snakepit.shm.registry.RegionRegistry;
import io.snakepit.shm.registry.ShmConfig;
import io.snakepit.shm.segment.ManagerInstance;
import io.snakepit.shm.segment.SegmentStore;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * A {@link RegionRegistry} on real segments in a fresh {@link ShmBenchDir}, holding a
 * given number of live regions of mixed small sizes, all held by one BEAM holder: the
 * state every benchmark measures against.
 *
 * <p>Configuration: the defaults of CONTRACT section 2 with {@code grace_ms 0} (a release
 * deallocates on the next {@code tick}) and {@code max_regions infinity}; pooled segments
 * of the default size.
 *
 * <p>Thread-safety: none, like the registry; one benchmark thread owns it.
 */
public final class LiveRegistry implements AutoCloseable {
  /** Smallest and largest payload of the pre-allocated regions, in bytes. */
  public static final int MIN_FILL_BYTES = 64;
  public static final int MAX_FILL_BYTES = 4096;
  /** Payload of the region allocated and released by the measured operation. */
  public static final long PROBE_BYTES = 1024;
  private static final long FILL_SEED = 0x5eed_5eedL;

  private final ShmBenchDir dir;
  private final RegionRegistry registry;
  private final Holder holder = new Holder.BeamProcess("bench-holder");
  private final AllocateRequest probe;

  private LiveRegistry(ShmBenchDir dir, RegionRegistry registry) {
    this.dir = dir;
    this.registry = registry;
    this.probe = request(PROBE_BYTES);
  }

  /**
   * A registry holding {@code liveRegions} regions. On any failure everything made so
   * far is removed before the exception propagates.
   */
  public static LiveRegistry open(int liveRegions) {
    LiveRegistry live = empty();
    try {
      live.fill(liveRegions);
      return live;
    } catch (RuntimeException | Error e) {
      live.close();
      throw e;
    }
  }

  /** A registry with no regions yet. */
  public static LiveRegistry empty() {
    ShmBenchDir dir = ShmBenchDir.create();
    try {
      SharedMemoryPlatform platform = Platforms.forCurrentOs();
      long pid = platform.currentPid();
      ManagerInstance me = new ManagerInstance("snkbench@localhost", pid, platform.processStartTicks(pid),
          System.nanoTime(), platform.bootId());
      ShmConfig config = ShmConfig.defaults(platform.statFs(dir.path()).totalBytes())
          .with(Map.of("grace_ms", 0L, "max_regions", "infinity"));
      RegionRegistry registry = new RegionRegistry(new SegmentStore(platform, dir.path(), me), config,
          HolderListener.NONE);
      return new LiveRegistry(dir, registry);
    } catch (RuntimeException | Error e) {
      dir.close();
      throw e;
    }
  }

  /** Allocates {@code count} more regions of sizes uniform in [64, 4096] bytes (fixed seed). */
  public void fill(int count) {
    SplittableRandom sizes = new SplittableRandom(FILL_SEED);
    long now = System.currentTimeMillis();
    for (int i = 0; i < count; i++) {
      long size = sizes.nextInt(MIN_FILL_BYTES, MAX_FILL_BYTES + 1);
      registry.allocate(request(size), now);
    }
  }

  /** The measured operation: allocate one 1 KiB region, release it, tick (deallocates it). */
  public long allocateReleaseTick() {
    long now = System.currentTimeMillis();
    long id = registry.allocate(probe, now).id();
    registry.release(id, holder, null, now);
    return registry.tick(now) ^ id;
  }

  /** Allocates one 1 KiB region; returns its id. */
  public long allocateProbe() {
    return registry.allocate(probe, System.currentTimeMillis()).id();
  }

  /** Releases a region from {@link #allocateProbe} and ticks, which deallocates it. */
  public long releaseAndTick(long id) {
    long now = System.currentTimeMillis();
    registry.release(id, holder, null, now);
    return registry.tick(now);
  }

  public RegionRegistry registry() {
    return registry;
  }

  public int liveRegions() {
    return registry.regionCount();
  }

  /** Deallocates everything, removes every segment and the directory. */
  @Override
  public void close() {
    try {
      registry.shutdown();
    } finally {
      dir.close();
    }
  }

  private AllocateRequest request(long sizeBytes) {
    return new AllocateRequest(sizeBytes, holder, null, null, false, 0, null, Access.READ_WRITE);
  }
}

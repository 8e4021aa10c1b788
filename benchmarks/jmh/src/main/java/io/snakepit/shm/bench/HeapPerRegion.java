package io.snakepit.shm.bench;

import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.lang.management.MemoryMXBean;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;

/**
 * JVM heap per live region: used heap after a full GC, before and after allocating N
 * regions (mixed sizes 64..4096 bytes, one holder, as in the JMH benchmarks), divided by
 * N; repeated with a fresh registry each time, the median reported. Then one more pass
 * with a class histogram before and after, to show which classes the bytes are.
 *
 * <p>Usage: {@code java -cp benchmarks.jar io.snakepit.shm.bench.HeapPerRegion
 * [--regions N] [--repeats R] [--top K] [--summary FILE]}. Run it in its own JVM: the
 * figure is for this process's heap only.
 */
public final class HeapPerRegion {
  private static final int SETTLE_GCS = 3;

  private HeapPerRegion() {}

  public static void main(String[] args) throws IOException {
    int regions = 100_000;
    int repeats = 5;
    int top = 12;
    String summaryFile = null;
    for (int i = 0; i < args.length; i++) {
      switch (args[i]) {
        case "--regions" -> regions = Integer.parseInt(args[++i]);
        case "--repeats" -> repeats = Integer.parseInt(args[++i]);
        case "--top" -> top = Integer.parseInt(args[++i]);
        case "--summary" -> summaryFile = args[++i];
        default -> {
          System.err.println("unknown argument " + args[i]
              + "; usage: HeapPerRegion [--regions N] [--repeats R] [--top K] [--summary FILE]");
          System.exit(2);
        }
      }
    }

    // one warm-up pass so class loading and JIT data are not counted
    measureOnce(Math.min(regions, 10_000));
    double[] perRegion = new double[repeats];
    for (int r = 0; r < repeats; r++) {
      perRegion[r] = measureOnce(regions);
      System.out.printf("heap: pass %d: %.1f bytes per live region%n", r + 1, perRegion[r]);
    }
    double[] sorted = perRegion.clone();
    Arrays.sort(sorted);
    double median = sorted[repeats / 2];

    ClassHistogram.Diff diff = histogramPass(regions);
    StringBuilder out = new StringBuilder();
    out.append(String.format("== JVM heap per live region (%d regions, median of %d passes) ==%n", regions, repeats));
    out.append(String.format("heap per live region: %.0f bytes (passes: %s); %.1f MiB for %d regions%n", median,
        Arrays.toString(Arrays.stream(perRegion).mapToLong(Math::round).toArray()),
        median * regions / (1 << 20), regions));
    out.append(diff.render(regions, top));
    System.out.println();
    System.out.print(out);
    if (summaryFile != null) {
      Files.writeString(Path.of(summaryFile), out.toString(), StandardCharsets.UTF_8);
    }
  }

  /** Bytes of used heap per region that {@code regions} live regions add. */
  private static double measureOnce(int regions) {
    try (LiveRegistry live = LiveRegistry.empty()) {
      long before = settledUsedHeapBytes();
      live.fill(regions);
      long after = settledUsedHeapBytes();
      if (live.liveRegions() != regions) {
        throw new IllegalStateException("expected " + regions + " live regions, registry has " + live.liveRegions());
      }
      return (after - before) / (double) regions;
    }
  }

  private static ClassHistogram.Diff histogramPass(int regions) {
    try (LiveRegistry live = LiveRegistry.empty()) {
      ClassHistogram before = ClassHistogram.take();
      live.fill(regions);
      ClassHistogram after = ClassHistogram.take();
      return after.minus(before);
    }
  }

  /** Used heap after full GCs, once it stops shrinking. */
  private static long settledUsedHeapBytes() {
    MemoryMXBean memory = ManagementFactory.getMemoryMXBean();
    long used = Long.MAX_VALUE;
    for (int i = 0; i < SETTLE_GCS; i++) {
      System.gc();
      long now = memory.getHeapMemoryUsage().getUsed();
      if (now >= used) {
        return now;
      }
      used = now;
    }
    return used;
  }
}

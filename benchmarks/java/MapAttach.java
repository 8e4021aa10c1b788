import io.snakepit.shm.platform.LinuxPlatform;
import io.snakepit.shm.platform.Mapping;
import io.snakepit.shm.platform.SharedMemoryPlatform;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;

/**
 * Java side of the map/attach benchmark (benchmarks/map_attach.exs): maps existing
 * regions with the node's own platform layer ({@link LinuxPlatform}, JNA) and touches
 * them. Run in source-file mode, nothing to build:
 *
 * <pre>
 * java -cp java_node/target/snakepit-shm-node.jar:java_node/target/lib/* \
 *     benchmarks/java/MapAttach.java REGIONS.tsv OUT.json
 * </pre>
 *
 * <p>REGIONS.tsv has one region a line: {@code size path offset repsFirstLast
 * repsEveryPage}. For each region, repeated and reported as medians:
 *
 * <ul>
 *   <li>{@code first_last}: open(2) the segment read-only, mmap(2) the page-aligned window
 *       ending at the payload's last byte, close(2) the fd, read the payload's first and
 *       last byte;
 *   <li>{@code every_page}: the same, then one byte read in every 4 KiB page.
 * </ul>
 *
 * <p>munmap(2) follows each repetition, outside the timed part. A warm-up of 2000
 * repetitions on the first region gets the code compiled by the JIT first.
 */
public final class MapAttach {
  private static final int WARMUP_REPS = 2000;

  private record Region(long size, Path dir, String file, long offset, int repsFirstLast, int repsEveryPage) {}

  public static void main(String[] args) throws IOException {
    if (args.length != 2) {
      System.err.println("usage: java -cp NODE_JAR:LIB/* MapAttach.java REGIONS.tsv OUT.json");
      System.exit(2);
    }
    List<Region> regions = new ArrayList<>();
    for (String line : Files.readAllLines(Path.of(args[0]))) {
      if (line.isBlank()) {
        continue;
      }
      String[] f = line.split("\t");
      Path path = Path.of(f[1]);
      regions.add(new Region(Long.parseLong(f[0]), path.getParent(), path.getFileName().toString(),
          Long.parseLong(f[2]), Integer.parseInt(f[3]), Integer.parseInt(f[4])));
    }
    SharedMemoryPlatform platform = new LinuxPlatform();
    long page = platform.pageSizeBytes();

    Region first = regions.get(0);
    for (int i = 0; i < WARMUP_REPS; i++) {
      time(platform, first, page, i % 2 == 0);
    }

    StringBuilder json = new StringBuilder();
    json.append("{\"method\": \"LinuxPlatform open+mmap+close, JNA (Java ")
        .append(System.getProperty("java.version")).append(")\", \"sizes\": [");
    for (int r = 0; r < regions.size(); r++) {
      Region region = regions.get(r);
      long[] firstLast = new long[region.repsFirstLast()];
      long[] everyPage = new long[region.repsEveryPage()];
      for (int i = 0; i < firstLast.length; i++) {
        firstLast[i] = time(platform, region, page, false);
      }
      for (int i = 0; i < everyPage.length; i++) {
        everyPage[i] = time(platform, region, page, true);
      }
      double flUs = medianUs(firstLast);
      double epUs = medianUs(everyPage);
      System.out.printf(Locale.ROOT, "map/attach java   %11d B: open+mmap+first/last byte %.2f us, every page "
          + "%.2f us (medians of %d/%d)%n", region.size(), flUs, epUs, firstLast.length, everyPage.length);
      json.append(r == 0 ? "" : ",").append(String.format(Locale.ROOT,
          "%n {\"size_bytes\": %d, \"first_last_median_us\": %.2f, \"first_last_min_us\": %.2f, "
              + "\"every_page_median_us\": %.2f, \"every_page_min_us\": %.2f, "
              + "\"first_last_samples_us\": %s, \"every_page_samples_us\": %s}",
          region.size(), flUs, minUs(firstLast), epUs, minUs(everyPage), samplesUs(firstLast), samplesUs(everyPage)));
    }
    json.append("\n]}\n");
    Files.writeString(Path.of(args[1]), json);
  }

  /** One repetition; returns the timed nanoseconds (munmap not included). */
  private static long time(SharedMemoryPlatform platform, Region region, long page, boolean everyPage) {
    long t0 = System.nanoTime();
    long mapStart = region.offset() - region.offset() % page;
    long length = region.offset() + region.size() - mapStart;
    int fd = platform.openExisting(region.dir(), region.file(), false);
    Mapping mapping;
    try {
      mapping = platform.map(fd, mapStart, length, false, region.file());
    } finally {
      platform.close(fd);
    }
    long payload = region.offset() - mapStart;
    long last = payload + region.size() - 1;
    long sink = mapping.getByte(payload) + mapping.getByte(last);
    if (everyPage) {
      for (long at = payload; at <= last; at += page) {
        sink += mapping.getByte(at);
      }
    }
    long elapsed = System.nanoTime() - t0;
    platform.unmap(mapping);
    if (sink == Long.MIN_VALUE) {
      System.out.print(""); // keeps the reads from being optimised away
    }
    return elapsed;
  }

  private static double medianUs(long[] samples) {
    long[] sorted = samples.clone();
    Arrays.sort(sorted);
    return sorted[(sorted.length - 1) / 2] / 1000.0;
  }

  private static double minUs(long[] samples) {
    return Arrays.stream(samples).min().orElse(0) / 1000.0;
  }

  private static String samplesUs(long[] samples) {
    StringBuilder sb = new StringBuilder("[");
    for (int i = 0; i < samples.length; i++) {
      sb.append(i == 0 ? "" : ",").append(String.format(Locale.ROOT, "%.2f", samples[i] / 1000.0));
    }
    return sb.append(']').toString();
  }
}

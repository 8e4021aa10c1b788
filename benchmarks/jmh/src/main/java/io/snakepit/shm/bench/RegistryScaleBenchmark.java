package io.snakepit.shm.bench;

import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * The full cost of one region's life inside the JVM at 1k, 10k and 100k live regions:
 * allocate 1 KiB, release it, and tick, which deallocates it (grace_ms is 0). Goal
 * (issue 3): p99 under 2 µs at 100k, and within 1.2× of the figure at 1k.
 *
 * <p>SampleTime gives p50/p99/p99.9; AverageTime the mean. Defaults are sized for a
 * 2-core machine; the command line overrides them (see run.sh).
 */
@State(Scope.Thread)
@BenchmarkMode({Mode.SampleTime, Mode.AverageTime})
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Fork(value = 1, jvmArgsAppend = {"-Xms1g", "-Xmx1g", "-XX:+AlwaysPreTouch",
    "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn"})
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
public class RegistryScaleBenchmark {
  /** Regions live in the registry while the operation is measured. */
  @Param({"1000", "10000", "100000"})
  public int liveRegions;

  private LiveRegistry live;

  @Setup(Level.Trial)
  public void setUp() {
    live = LiveRegistry.open(liveRegions);
  }

  @TearDown(Level.Trial)
  public void tearDown() {
    if (live != null) {
      live.close();
      live = null;
    }
  }

  /** allocate(1 KiB) + release + tick. */
  @Benchmark
  public long allocateRelease() {
    return live.allocateReleaseTick();
  }
}

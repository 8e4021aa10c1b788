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
 * {@code release} + {@code tick} alone (the tick deallocates: grace_ms is 0) of a 1 KiB
 * region at 1k, 10k and 100k live regions. The region is allocated outside the timed
 * part, in an invocation-level setup, which adds a timestamp pair (~20-50 ns) to each
 * sample.
 */
@State(Scope.Thread)
@BenchmarkMode({Mode.SampleTime, Mode.AverageTime})
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Fork(value = 1, jvmArgsAppend = {"-Xms1g", "-Xmx1g", "-XX:+AlwaysPreTouch",
    "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn"})
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
public class RegistryReleaseBenchmark {
  @Param({"1000", "10000", "100000"})
  public int liveRegions;

  private LiveRegistry live;
  private long allocatedId;

  @Setup(Level.Trial)
  public void setUp() {
    live = LiveRegistry.open(liveRegions);
  }

  @Setup(Level.Invocation)
  public void allocateOne() {
    allocatedId = live.allocateProbe();
  }

  @TearDown(Level.Trial)
  public void tearDown() {
    if (live != null) {
      live.close();
      live = null;
    }
  }

  /** release + tick (deallocation). */
  @Benchmark
  public long releaseAndTick() {
    return live.releaseAndTick(allocatedId);
  }
}

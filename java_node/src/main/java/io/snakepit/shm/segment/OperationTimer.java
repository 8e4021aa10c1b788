package io.snakepit.shm.segment;

/**
 * Receives how long an operation of the segment layer took ({@code map}: create, reserve
 * and map a segment file; {@code zero}: clear a range), so the layer above can keep
 * latency histograms without this layer knowing about them.
 */
@FunctionalInterface
public interface OperationTimer {
  /** A timer that records nothing. */
  OperationTimer NONE = (operation, elapsedNs) -> { };

  void record(String operation, long elapsedNs);
}

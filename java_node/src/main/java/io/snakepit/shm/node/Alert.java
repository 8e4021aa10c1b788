package io.snakepit.shm.node;

import io.snakepit.shm.registry.ShmException;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * One alert: a threshold crossed (capacity, fragmentation, latency), with what to change.
 *
 * @param name           stable id, e.g. {@code capacity.max_total_bytes}
 * @param severity       {@code warning} or {@code critical}
 * @param value          the measured value (percent, or µs for latency)
 * @param threshold      the configured threshold, same unit
 * @param message        what is wrong, one line
 * @param recommendation what to change and by how much
 * @param sinceMs        when it was raised
 */
record Alert(String name, String severity, double value, double threshold, String message, String recommendation,
    long sinceMs) {

  /** The alert as a report map. */
  Map<String, Object> asMap() {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("name", name);
    m.put("severity", new ShmException.Atom(severity));
    m.put("value", value);
    m.put("threshold", threshold);
    m.put("message", message);
    m.put("recommendation", recommendation);
    m.put("since_ms", sinceMs);
    return m;
  }
}

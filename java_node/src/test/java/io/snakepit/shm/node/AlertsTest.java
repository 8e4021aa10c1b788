package io.snakepit.shm.node;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.snakepit.shm.platform.Platforms;
import io.snakepit.shm.platform.SharedMemoryPlatform;
import io.snakepit.shm.registry.Access;
import io.snakepit.shm.registry.AllocateRequest;
import io.snakepit.shm.registry.Holder;
import io.snakepit.shm.registry.HolderListener;
import io.snakepit.shm.registry.Region;
import io.snakepit.shm.registry.RegionRegistry;
import io.snakepit.shm.registry.ShmConfig;
import io.snakepit.shm.segment.ManagerInstance;
import io.snakepit.shm.segment.SegmentStore;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** Alerts and recommendations against a real registry in a fresh /dev/shm directory. */
class AlertsTest {
  private static final long T0 = 1_000_000;
  private final SharedMemoryPlatform platform = Platforms.forCurrentOs();
  private final Holder alice = new Holder.BeamProcess("alice");
  private Path dir;
  private RegionRegistry registry;
  private Metrics metrics;
  private Alerts alerts;

  @BeforeEach
  void setUp() throws IOException {
    dir = Files.createTempDirectory(Path.of("/dev/shm"), "snktest-alerts-");
    long pid = platform.currentPid();
    ManagerInstance me = new ManagerInstance("t@h", pid, platform.processStartTicks(pid), 1, platform.bootId());
    registry = new RegionRegistry(new SegmentStore(platform, dir, me), ShmConfig.defaults(1L << 30),
        HolderListener.NONE);
    metrics = new Metrics();
    alerts = new Alerts(registry, metrics, platform, dir);
  }

  @AfterEach
  void tearDown() throws IOException {
    registry.shutdown();
    try (Stream<Path> s = Files.list(dir)) {
      for (Path p : (Iterable<Path>) s::iterator) {
        Files.delete(p);
      }
    }
    Files.delete(dir);
  }

  private Region allocate(long size) {
    return registry.allocate(new AllocateRequest(size, alice, null, null, false, 0, null, Access.READ_WRITE), T0);
  }

  @Test
  void crossingTheCapacityThresholdRaisesOneAlertWithWhatToRaiseAndGoingBackClearsIt() {
    registry.configure(Map.of("max_total_bytes", 100_000L, "alert_capacity_percent", 90L));
    Region r = allocate(95_000);
    List<Alerts.Transition> raised = alerts.check(T0);
    Alerts.Transition total = raised.stream().filter(t -> t.alert().name().equals("capacity.max_total_bytes"))
        .findFirst().orElseThrow(() -> new AssertionError("no capacity alert in " + raised));
    assertTrue(total.raised());
    assertEquals(95.0, total.alert().value(), 1e-9);
    assertTrue(total.alert().recommendation().startsWith("Raise max_total_bytes from 100000 to 1048576"),
        total.alert().recommendation());
    assertEquals(List.of(), alerts.check(T0 + 500), "not due yet");
    assertTrue(alerts.check(T0 + 1000).stream().noneMatch(t -> t.alert().name().equals("capacity.max_total_bytes")),
        "still raised: no new transition");
    assertTrue(alerts.active().stream().anyMatch(a -> a.name().equals("capacity.max_total_bytes")));

    registry.release(r.id(), alice, null, T0);
    registry.gc(T0 + 1);
    List<Alerts.Transition> cleared = alerts.check(T0 + 2000);
    assertTrue(cleared.stream().anyMatch(t -> !t.raised() && t.alert().name().equals("capacity.max_total_bytes")),
        cleared.toString());
    assertFalse(alerts.active().stream().anyMatch(a -> a.name().equals("capacity.max_total_bytes")));
  }

  @Test
  void slowCallsOverTheWindowRaiseTheLatencyAlert() {
    registry.configure(Map.of("alert_call_p99_us", 1000L));
    alerts.check(T0);
    for (int i = 0; i < 200; i++) {
      metrics.recordCall("allocate", i < 190 ? 5_000 : 5_000_000); // 5 µs, and 5 ms for the slowest 5 %
    }
    List<Alerts.Transition> t = alerts.check(T0 + Alerts.LATENCY_WINDOW_MS);
    assertTrue(t.stream().anyMatch(x -> x.raised() && x.alert().name().equals("latency.calls")), t.toString());
    List<Alerts.Transition> quiet = alerts.check(T0 + 2 * Alerts.LATENCY_WINDOW_MS);
    assertTrue(quiet.stream().anyMatch(x -> !x.raised() && x.alert().name().equals("latency.calls")),
        "a quiet window (fewer than 100 calls) clears it: " + quiet);
  }

  @Test
  void manySmallRegionsAndLongUnusedOnesAreRecommendedAgainst() {
    for (int i = 0; i < 1000; i++) {
      allocate(100);
    }
    List<Object> recs = Recommendations.of(registry, metrics, T0 + 1000);
    assertTrue(ids(recs).contains("small_regions"), recs.toString());
    assertFalse(ids(recs).contains("idle_regions"), recs.toString());
    recs = Recommendations.of(registry, metrics, T0 + Recommendations.IDLE_MS);
    assertTrue(ids(recs).contains("idle_regions"), recs.toString());
  }

  @SuppressWarnings("unchecked")
  private static List<String> ids(List<Object> recs) {
    return recs.stream().map(o -> (String) ((Map<String, Object>) o).get("id")).toList();
  }
}

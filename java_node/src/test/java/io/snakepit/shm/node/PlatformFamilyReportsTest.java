package io.snakepit.shm.node;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.snakepit.shm.platform.OsFamily;
import io.snakepit.shm.platform.PlatformText;
import io.snakepit.shm.platform.PretendPlatform;
import io.snakepit.shm.platform.SharedMemoryPlatform;
import io.snakepit.shm.registry.HolderListener;
import io.snakepit.shm.registry.RegionRegistry;
import io.snakepit.shm.registry.ShmConfig;
import io.snakepit.shm.registry.ShmException;
import io.snakepit.shm.segment.ManagerInstance;
import io.snakepit.shm.segment.SegmentStore;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * Health, gc and the capacity alert as each OS family words them (the family is injected
 * with {@link PretendPlatform}; segments are real files under /dev/shm).
 */
class PlatformFamilyReportsTest {
  private static final long MIB = 1L << 20;
  private static final long T0 = 1_000_000;
  private Path dir;
  private RegionRegistry registry;

  @AfterEach
  void tearDown() throws IOException {
    if (registry != null) {
      registry.shutdown();
    }
    if (dir != null) {
      try (Stream<Path> s = Files.list(dir)) {
        for (Path p : (Iterable<Path>) s::iterator) {
          Files.delete(p);
        }
      }
      Files.delete(dir);
    }
  }

  private Reports reports(SharedMemoryPlatform platform) throws IOException {
    dir = Files.createTempDirectory(Path.of("/dev/shm"), "snktest-family-");
    long pid = platform.currentPid();
    ManagerInstance me = new ManagerInstance("t@h", pid, platform.processStartTicks(pid), 1, platform.bootId());
    registry = new RegionRegistry(new SegmentStore(platform, dir, me), ShmConfig.defaults(1L << 30),
        HolderListener.NONE);
    Metrics metrics = new Metrics();
    return new Reports(registry, platform, dir, "t@h", metrics, new Alerts(registry, metrics, platform, dir),
        new UsageSeries(registry, metrics), new NodeEvents() {
          @Override
          public boolean subscribe(com.ericsson.otp.erlang.OtpErlangPid pid) {
            return false;
          }

          @Override
          public boolean unsubscribe(com.ericsson.otp.erlang.OtpErlangPid pid) {
            return false;
          }

          @Override
          public int subscriberCount() {
            return 0;
          }
        });
  }

  @SuppressWarnings("unchecked")
  private static Map<String, Object> check(Map<String, Object> health, String name) {
    for (Object o : (List<Object>) health.get("checks")) {
      Map<String, Object> c = (Map<String, Object>) o;
      if (c.get("name").equals(new ShmException.Atom(name))) {
        return c;
      }
    }
    throw new AssertionError("no check " + name + " in " + health);
  }

  @Test
  void theShmDirCheckSaysWhatBacksSegmentsAndThatListingIsNotAvailable() throws IOException {
    for (OsFamily family : OsFamily.values()) {
      PretendPlatform platform = new PretendPlatform(family).fixStatFs(4096 * MIB, 3000 * MIB);
      Reports reports = reports(platform);
      Map<String, Object> shmDir = check(reports.health(null, false), "shm_dir");
      assertEquals(new ShmException.Atom("ok"), shmDir.get("status"));
      String detail = (String) shmDir.get("detail");
      assertEquals(PlatformText.capacityDetail(family, dir, platform.statFs(dir)), detail);
      if (family == OsFamily.LINUX) {
        assertEquals(dir + ": 3000 MiB free of 4096 MiB", detail);
      } else {
        assertTrue(detail.contains("segment listing is not available"), detail);
        assertFalse(detail.toLowerCase(Locale.ROOT).contains("tmpfs"), detail);
      }
      tearDown();
      registry = null;
      dir = null;
    }
  }

  @Test
  void gcReportsWhetherTheSweepCouldListSegments() throws IOException {
    for (OsFamily family : OsFamily.values()) {
      Map<String, Object> gc = reports(new PretendPlatform(family)).gc(T0);
      @SuppressWarnings("unchecked")
      Map<String, Object> sweep = (Map<String, Object>) gc.get("sweep");
      assertEquals(family == OsFamily.LINUX, sweep.get("available"), family.toString());
      assertEquals(0L, sweep.get("scanned"));
      tearDown();
      registry = null;
      dir = null;
    }
  }

  @Test
  void theCapacityAlertOfAFullSystemIsWordedPerPlatform() throws IOException {
    for (OsFamily family : OsFamily.values()) {
      PretendPlatform platform = new PretendPlatform(family).fixStatFs(1000 * MIB, 10 * MIB);
      reports(platform);
      Alerts alerts = new Alerts(registry, new Metrics(), platform, dir);
      Alert a = alerts.check(T0).stream().map(Alerts.Transition::alert)
          .filter(x -> x.name().equals("capacity.shm_dir")).findFirst()
          .orElseThrow(() -> new AssertionError("no capacity.shm_dir alert for " + family));
      SharedMemoryPlatform.FsStat fs = platform.statFs(dir);
      assertEquals(PlatformText.capacityAlertMessage(family, dir, 99.0, fs), a.message());
      assertEquals(PlatformText.capacityAlertAdvice(family, dir, fs), a.recommendation());
      assertEquals(family == OsFamily.LINUX, a.recommendation().contains("mount -o remount"), a.recommendation());
      tearDown();
      registry = null;
      dir = null;
    }
  }
}

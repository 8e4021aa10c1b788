package io.snakepit.shm.platform;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.snakepit.shm.registry.Access;
import io.snakepit.shm.registry.AllocateRequest;
import io.snakepit.shm.registry.Holder;
import io.snakepit.shm.registry.HolderListener;
import io.snakepit.shm.registry.Region;
import io.snakepit.shm.registry.RegionRegistry;
import io.snakepit.shm.registry.ShmConfig;
import io.snakepit.shm.segment.ManagerInstance;
import io.snakepit.shm.segment.SegmentNames;
import io.snakepit.shm.segment.SegmentStore;
import java.nio.charset.StandardCharsets;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The descriptor's {@code segment} is "/" + the segment's file name on every platform
 * (docs/PROTOCOL.md): on macOS exactly the name MacOsPlatform passes to shm_open, on
 * Windows the section name WindowsPlatform creates is {@code Local\} + segment without its
 * slash. A client attaches by that rule; this test pins it to the platforms' own naming.
 */
class DescriptorSegmentNamesTest {
  @Test
  void theSegmentNameIsWhatEachPlatformOpens() {
    SegmentNames names = new SegmentNames();
    for (int i = 0; i < 1000; i++) {
      String file = names.newFileName();
      String segment = SegmentNames.shmName(file);
      assertEquals("/" + file, segment);
      // macOS: shm_open(segment)
      assertEquals(segment, MacOsShmNames.shmName(file));
      assertTrue(segment.getBytes(StandardCharsets.UTF_8).length <= MacOsShmNames.MAX_NAME_BYTES, segment);
      // Windows: OpenFileMappingW("Local\" + segment without the slash)
      assertEquals(WindowsNamespace.LOCAL.objectName(file), "Local\\" + segment.substring(1));
    }
  }

  @Test
  void descriptorsCarryTheSameSegmentAndPathOnEveryFamily() throws Exception {
    try (ShmTestDir dir = new ShmTestDir(new LinuxPlatform())) {
      for (OsFamily family : List.of(OsFamily.LINUX, OsFamily.MACOS, OsFamily.WINDOWS)) {
        PretendPlatform platform = new PretendPlatform(family);
        long pid = platform.currentPid();
        ManagerInstance me = new ManagerInstance("t@h", pid, platform.processStartTicks(pid), 1, platform.bootId());
        RegionRegistry registry = new RegionRegistry(new SegmentStore(platform, dir.dir, me),
            ShmConfig.defaults(1L << 30), HolderListener.NONE);
        try {
          Region r = registry.allocate(new AllocateRequest(1000, new Holder.BeamProcess("a"), null, null, false, 0,
              null, Access.READ_WRITE), 1);
          String file = r.segment().fileName();
          assertEquals("/" + file, r.segment().shmName(), family.toString());
          assertEquals(dir.dir.resolve(file), r.segment().path(), family.toString());
          assertEquals("/" + file, new String(r.segment().shmNameBytes(), StandardCharsets.UTF_8));
        } finally {
          registry.shutdown();
        }
      }
    }
  }
}

package io.snakepit.shm.segment;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.snakepit.shm.platform.Platforms;
import io.snakepit.shm.platform.SharedMemoryPlatform;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** A segment without a whole mapping serves every access through windows. */
class SegmentWindowTest {
  private final SharedMemoryPlatform platform = Platforms.forCurrentOs();
  private Path dir;
  private Segment windowed;

  @BeforeEach
  void setUp() throws IOException {
    dir = Files.createDirectory(Path.of("/dev/shm", "snktest-win-" + Long.toHexString(new SecureRandom().nextLong())));
    String name = new SegmentNames().newFileName();
    int fd = platform.createExclusive(dir, name, 0600);
    platform.truncate(fd, 1 << 20, name);
    windowed = new Segment(name, dir.resolve(name), SegmentHeaderLayout.KIND_POOLED, 1 << 20, 0, fd, null, platform,
        platform.pageSizeBytes());
  }

  @AfterEach
  void tearDown() throws IOException {
    new SegmentStore(platform, dir, null).destroy(windowed);
    Files.delete(dir);
  }

  @Test
  void aRangeAcrossPagesIsWrittenAndReadThroughWindows() throws IOException {
    assertTrue(windowed.isWindowed());
    long offset = 4096 * 3 - 100;
    byte[] data = new byte[10_000];
    new SecureRandom().nextBytes(data);
    List<Long> pieces = new ArrayList<>();
    windowed.access(offset, data.length, (m, at, len) -> {
      pieces.add(len);
      m.putBytes(at, data, 0, (int) len);
    });
    assertEquals(List.of((long) data.length), pieces, "one window when it fits the address space");
    byte[] file = Files.readAllBytes(windowed.path());
    byte[] got = new byte[data.length];
    System.arraycopy(file, (int) offset, got, 0, data.length);
    assertArrayEquals(data, got);
  }

  @Test
  void headersAreWrittenAtTheirFileOffsetThroughAWindow() throws IOException {
    long header = 5 * 4096 + 64;
    windowed.access(header, RegionHeaderLayout.HEADER_BYTES,
        (m, at, len) -> RegionHeaderLayout.writeLive(m, at, 7, 9, 100, header + 64, 0, 1));
    windowed.access(header, RegionHeaderLayout.HEADER_BYTES, (m, at, len) -> {
      RegionHeaderLayout.Header h = RegionHeaderLayout.read(m, at);
      assertEquals(7, h.regionId());
      assertEquals(9, h.generation());
      assertEquals(header + 64, h.payloadOffset());
    });
  }
}

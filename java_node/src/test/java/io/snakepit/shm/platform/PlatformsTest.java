package io.snakepit.shm.platform;

import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class PlatformsTest {
  @Test
  void linuxGetsTheLinuxPlatform() {
    assertInstanceOf(LinuxPlatform.class, Platforms.forCurrentOs());
  }

  @Test
  void otherOperatingSystemsAreRefusedWithTheirName() {
    UnsupportedOperationException mac = assertThrows(UnsupportedOperationException.class,
        () -> Platforms.forOs("Mac OS X", "aarch64"));
    UnsupportedOperationException windows = assertThrows(UnsupportedOperationException.class,
        () -> Platforms.forOs("Windows 11", "amd64"));

    assertTrue(mac.getMessage().contains("Mac OS X (aarch64)"), mac.getMessage());
    assertTrue(mac.getMessage().contains("macOS and Windows implementations are planned"), mac.getMessage());
    assertTrue(windows.getMessage().contains("Windows 11"), windows.getMessage());
  }
}

package io.snakepit.shm.node;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The host identity of docs/SCALE_OUT.md: derivation, overrides, and this machine's. */
class HostIdentityTest {
  /** The same vector is pinned by the Elixir client's tests (SnakepitShm.ClusterTest). */
  @Test
  void derivationMatchesTheSharedTestVector() {
    assertEquals("e35ddf13ed30b2d0", HostIdentity.derive("build-7", "3f1c0a9e-5b7d-4e2a-9c1f-0a1b2c3d4e5f"));
    assertEquals("57d2217682ae012b", HostIdentity.derive("build-7", null));
    assertEquals("57d2217682ae012b", HostIdentity.derive("build-7", ""));
  }

  @Test
  void aNewBootOrAnotherHostNameIsAnotherHost() {
    String boot = "3f1c0a9e-5b7d-4e2a-9c1f-0a1b2c3d4e5f";
    assertNotEquals(HostIdentity.derive("build-7", boot), HostIdentity.derive("build-8", boot));
    assertNotEquals(HostIdentity.derive("build-7", boot),
        HostIdentity.derive("build-7", "3f1c0a9e-5b7d-4e2a-9c1f-0a1b2c3d4e60"));
  }

  @Test
  void thisMachinesIdComesFromItsHostNameAndBootId() throws Exception {
    HostIdentity me = HostIdentity.detect(null);
    assertEquals("derived", me.source());
    assertTrue(me.id().matches("[0-9a-f]{16}"), me.id());
    String name = Files.readString(Path.of("/proc/sys/kernel/hostname")).strip();
    String boot = Files.readString(Path.of("/proc/sys/kernel/random/boot_id")).strip();
    assertEquals(name, me.name());
    assertEquals(boot, me.bootId());
    assertEquals(HostIdentity.derive(name, boot), me.id());
  }

  @Test
  void theFlagWinsOverTheEnvironmentWhichWinsOverDerivation() {
    assertEquals("flag-a", HostIdentity.fromSources("flag-a", Map.of(HostIdentity.ENV, "env-b")).id());
    HostIdentity fromEnv = HostIdentity.fromSources(null, Map.of(HostIdentity.ENV, " env-b "));
    assertEquals("env-b", fromEnv.id());
    assertEquals("override", fromEnv.source());
    assertEquals(HostIdentity.detect(null).id(), HostIdentity.fromSources(null, Map.of(HostIdentity.ENV, "  ")).id());
    assertEquals("derived", HostIdentity.fromSources(null, Map.of()).source());
  }

  @Test
  void aMalformedOverrideIsRefusedWithTheRule() {
    for (String bad : new String[] {"", "has space", "slash/no", "x".repeat(65), "é"}) {
      IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> HostIdentity.detect(bad));
      assertTrue(e.getMessage().contains("1 to 64 letters"), e.getMessage());
    }
    assertEquals("a.b_c:d-9", HostIdentity.detect("a.b_c:d-9").id());
    assertEquals("x".repeat(64), HostIdentity.detect("x".repeat(64)).id());
  }
}

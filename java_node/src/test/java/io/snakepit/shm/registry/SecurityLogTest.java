package io.snakepit.shm.registry;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;

class SecurityLogTest {
  private static SecurityEvent event(SecurityEvent.Kind k, long atMs) {
    return new SecurityEvent(k, "acquire", "<pid>", "00000000000000ff", "t", "detail", atMs);
  }

  @Test
  void countsAreExactAndOnlyTheMostRecentEventsAreKept() {
    SecurityLog log = new SecurityLog();
    for (int i = 0; i < 1000; i++) {
      log.record(event(SecurityEvent.Kind.BAD_TOKEN, i));
    }
    log.record(event(SecurityEvent.Kind.SHM_DIR, 2000));
    assertEquals(1000L, log.counts().get(SecurityEvent.Kind.BAD_TOKEN));
    assertEquals(1L, log.counts().get(SecurityEvent.Kind.SHM_DIR));
    assertEquals(0L, log.counts().get(SecurityEvent.Kind.TENANT_DENIED), "every kind is present");
    assertEquals(1001, log.total());
    assertEquals(SecurityLog.RECENT_EVENTS, log.recent().size());
    assertEquals(SecurityEvent.Kind.SHM_DIR, log.recent().get(SecurityLog.RECENT_EVENTS - 1).kind());
    assertEquals(985, log.recent().get(0).atMs(), "oldest kept first");
  }
}

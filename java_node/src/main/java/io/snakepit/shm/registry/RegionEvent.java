package io.snakepit.shm.registry;

/** What can happen to a region, as kept in its history and written to the audit log. */
public enum RegionEvent {
  ALLOCATED("allocated"),
  ACQUIRED("acquired"),
  RELEASED("released"),
  FREED("freed"),
  /** Its holder ended (pid exit, node down, OS process gone): its references were dropped. */
  HOLDER_DOWN("holder_down"),
  /** Its session was ended with release_session. */
  SESSION_ENDED("session_ended"),
  /** Its header was found corrupt; it is isolated. */
  INVALIDATED("invalidated"),
  /** Its ttl ran out. */
  EXPIRED("expired"),
  /** Its memory was given back (after the grace period, by gc, ttl or shutdown). */
  DEALLOCATED("deallocated");

  private static final RegionEvent[] VALUES = values();
  private final String atom;

  RegionEvent(String atom) {
    this.atom = atom;
  }

  public String atom() {
    return atom;
  }

  static RegionEvent ofOrdinal(int ordinal) {
    return VALUES[ordinal];
  }
}

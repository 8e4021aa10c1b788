package io.snakepit.shm.registry;

/**
 * One security-relevant event (SECURITY.md "Security events"): a denied request, a bad
 * token or operator key, a use of a freed or stale region id, or a problem with the shm dir.
 *
 * @param kind      what happened
 * @param call      the request it happened in ({@code acquire}, ...), or {@code check} for
 *                  the node's own periodic checks
 * @param who       the caller or holder, as text (a pid, {@code os_pid 123}), or null
 * @param regionId  the region id as on the wire, or null
 * @param tenant    the tenant the caller gave, or null
 * @param detail    one line of context
 * @param atMs      wall-clock time, ms since the epoch
 */
public record SecurityEvent(Kind kind, String call, String who, String regionId, String tenant, String detail,
    long atMs) {

  /** The kinds counted in {@code stats.security}; the atom is the key on the wire. */
  public enum Kind {
    /** A region of one tenant was asked for with another tenant, or without one. */
    TENANT_DENIED("tenant_denied"),
    /** release, free, write or read by a caller that holds no reference. */
    NOT_HOLDER("not_holder"),
    /** A write through the node by a holder whose references are all read_only. */
    READ_ONLY_WRITE("read_only_write"),
    /** acquire without the region's capability token, or with a wrong one. */
    BAD_TOKEN("bad_token"),
    /** An operator key that does not match the node's (or the node has none). */
    BAD_OPERATOR_KEY("bad_operator_key"),
    /** acquire of a region that was freed (it takes no new acquires). */
    FREED_REGION("freed_region"),
    /** An id this run issued whose region has since been deallocated (freed, expired, released). */
    FREED_ID("freed_id"),
    /** An id this run never issued: one of an earlier run, or made up. */
    UNKNOWN_ID("unknown_id"),
    /** An id whose slot now holds a newer region: a stale generation of that slot. */
    STALE_GENERATION("stale_generation"),
    /** The shm dir or a segment file was changed behind the node's back. */
    SHM_DIR("shm_dir");

    private final String atom;

    Kind(String atom) {
      this.atom = atom;
    }

    public String atom() {
      return atom;
    }
  }
}

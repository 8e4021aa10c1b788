package io.snakepit.shm.registry;

/**
 * Told by the registry when a holder starts holding anything and when it holds nothing
 * any more, so the protocol layer can link to and unlink from BEAM pids; and of the
 * events the protocol layer forwards to subscribers (a holder's cleanup, a security
 * event, a sweep). Called on the registry's owner thread.
 */
public interface HolderListener {
  /** {@code holder} now holds its first region. */
  void onFirstHold(Holder holder);

  /** {@code holder} holds no region any more. */
  void onLastRelease(Holder holder);

  /** {@code holder} ended: {@code references} references on {@code regions} regions were dropped. */
  default void onHolderDown(Holder holder, int regions, int references) {}

  /** A security event was recorded. */
  default void onSecurityEvent(SecurityEvent event) {}

  /** A sweep for stale segments ran. */
  default void onSweep(io.snakepit.shm.segment.StaleSweeper.Result result) {}

  /** A listener that does nothing. */
  HolderListener NONE = new HolderListener() {
    @Override
    public void onFirstHold(Holder holder) {}

    @Override
    public void onLastRelease(Holder holder) {}
  };
}

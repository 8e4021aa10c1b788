package io.snakepit.shm.registry;

/**
 * Told by the registry when a holder starts holding anything and when it holds nothing
 * any more, so the protocol layer can link to and unlink from BEAM pids. Called on the
 * registry's owner thread.
 */
public interface HolderListener {
  /** {@code holder} now holds its first region. */
  void onFirstHold(Holder holder);

  /** {@code holder} holds no region any more. */
  void onLastRelease(Holder holder);

  /** A listener that does nothing. */
  HolderListener NONE = new HolderListener() {
    @Override
    public void onFirstHold(Holder holder) {}

    @Override
    public void onLastRelease(Holder holder) {}
  };
}

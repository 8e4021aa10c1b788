package com.ericsson.otp.erlang;

/**
 * Reads how many messages wait in a JInterface mailbox. JInterface keeps the queue
 * package-private and offers no accessor, so this one class lives in its package (a split
 * package, fine on the class path). Used by snakepit-shm for back pressure only.
 */
public final class MailboxDepth {
  private MailboxDepth() {}

  /** Messages queued in {@code mbox} and not yet received. */
  public static int of(OtpMbox mbox) {
    return mbox.queue.getCount();
  }
}

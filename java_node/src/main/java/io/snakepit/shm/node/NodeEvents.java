package io.snakepit.shm.node;

import com.ericsson.otp.erlang.OtpErlangPid;

/**
 * What the request handler asks of the node for {@code subscribe} and {@code unsubscribe}:
 * the node owns the links and the subscriber set. Called on the owner thread.
 */
interface NodeEvents {
  /** Subscribes {@code pid}; false when the subscriber limit is reached. */
  boolean subscribe(OtpErlangPid pid);

  /** Unsubscribes {@code pid}; false when it was not subscribed. */
  boolean unsubscribe(OtpErlangPid pid);

  /** Current subscribers. */
  int subscriberCount();
}

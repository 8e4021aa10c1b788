package io.snakepit.shm.node;

import com.ericsson.otp.erlang.OtpErlangAtom;
import com.ericsson.otp.erlang.OtpErlangObject;
import com.ericsson.otp.erlang.OtpErlangTuple;

/**
 * Which requests a node that has fallen behind answers with {@code :busy} instead of
 * running. Calls that give memory back (release, free, their batch and session forms)
 * and the health probe always run: shedding them would deepen the trouble.
 */
final class Backpressure {
  private Backpressure() {}

  /** True when {@code request} may be refused while the mailbox is over its bound. */
  static boolean sheds(OtpErlangObject request) {
    String name = request instanceof OtpErlangAtom a ? a.atomValue()
        : request instanceof OtpErlangTuple t && t.arity() > 0 && t.elementAt(0) instanceof OtpErlangAtom a
            ? a.atomValue() : "";
    return switch (name) {
      case "release", "release_many", "free", "release_session", "health", "ping", "config" -> false;
      default -> true;
    };
  }
}

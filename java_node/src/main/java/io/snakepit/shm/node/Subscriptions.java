package io.snakepit.shm.node;

import com.ericsson.otp.erlang.OtpErlangList;
import com.ericsson.otp.erlang.OtpErlangObject;
import com.ericsson.otp.erlang.OtpErlangPid;
import com.ericsson.otp.erlang.OtpMbox;
import java.util.LinkedHashSet;
import java.util.Map;
import java.util.Set;

/**
 * Elixir processes that asked for the node's events ({@code {:subscribe, opts}}). Each
 * gets {@code {:snakepit_shm_event, [:snakepit, :shm | name], measurements, metadata}}
 * messages, shaped so a handler can pass them straight to {@code :telemetry.execute/3}.
 * The node links to a subscriber, so one that exits is dropped; at most
 * {@value #MAX_SUBSCRIBERS} subscribe at once.
 *
 * <p>Thread-safety: none; the node's owner thread only.
 */
final class Subscriptions {
  static final int MAX_SUBSCRIBERS = 1000;
  private static final OtpErlangObject TAG = Terms.atom("snakepit_shm_event");

  private final OtpMbox mailbox;
  private final Set<OtpErlangPid> subscribers = new LinkedHashSet<>();

  Subscriptions(OtpMbox mailbox) {
    this.mailbox = mailbox;
  }

  /** Adds a subscriber; false when there are already {@value #MAX_SUBSCRIBERS}. */
  boolean add(OtpErlangPid pid) {
    if (subscribers.contains(pid)) {
      return true;
    }
    if (subscribers.size() >= MAX_SUBSCRIBERS) {
      return false;
    }
    subscribers.add(pid);
    return true;
  }

  boolean remove(OtpErlangPid pid) {
    return subscribers.remove(pid);
  }

  boolean contains(OtpErlangPid pid) {
    return subscribers.contains(pid);
  }

  int size() {
    return subscribers.size();
  }

  /** Sends one event to every subscriber. */
  void broadcast(String[] name, Map<String, ?> measurements, Map<String, ?> metadata) {
    if (subscribers.isEmpty()) {
      return;
    }
    OtpErlangObject[] path = new OtpErlangObject[name.length + 2];
    path[0] = Terms.atom("snakepit");
    path[1] = Terms.atom("shm");
    for (int i = 0; i < name.length; i++) {
      path[i + 2] = Terms.atom(name[i]);
    }
    OtpErlangObject event = Terms.tuple(TAG, new OtpErlangList(path), Terms.map(measurements), Terms.map(metadata));
    for (OtpErlangPid pid : subscribers) {
      mailbox.send(pid, event);
    }
  }
}

package io.snakepit.shm.cli;

import com.ericsson.otp.erlang.OtpAuthException;
import com.ericsson.otp.erlang.OtpConnection;
import com.ericsson.otp.erlang.OtpEpmd;
import com.ericsson.otp.erlang.OtpErlangAtom;
import com.ericsson.otp.erlang.OtpErlangBinary;
import com.ericsson.otp.erlang.OtpErlangExit;
import com.ericsson.otp.erlang.OtpErlangList;
import com.ericsson.otp.erlang.OtpErlangLong;
import com.ericsson.otp.erlang.OtpErlangMap;
import com.ericsson.otp.erlang.OtpErlangObject;
import com.ericsson.otp.erlang.OtpErlangRef;
import com.ericsson.otp.erlang.OtpErlangTuple;
import com.ericsson.otp.erlang.OtpPeer;
import com.ericsson.otp.erlang.OtpSelf;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.FutureTask;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * A connection of the diagnostics CLI to a snakepit-shm node: a hidden JInterface client
 * node ({@code snakepit_shm_cli_<pid>}, not registered with epmd) that makes
 * {@code GenServer.call}s to the registered process {@code snakepit_shm}: it sends
 * {@code {:"$gen_call", {self, ref}, request}} and waits for {@code {ref, reply}}.
 *
 * <p>When the node cannot be reached the error says why in one line: whether epmd answers
 * on port 4369 and lists the node, whether the handshake failed (a wrong cookie), and where
 * the cookie came from. Such errors have status {@link UsageException#NODE_UNREACHABLE}.
 */
public final class NodeClient implements AutoCloseable {
  static final int EPMD_PORT = 4369;
  private static final int EPMD_CONNECT_TIMEOUT_MS = 2000;
  /** The name the node registers (PROTOCOL.md "Transport"). */
  static final String REGISTERED_NAME = "snakepit_shm";

  private final String node;
  private final OtpSelf self;
  private final OtpConnection connection;
  private final long timeoutMs;

  private NodeClient(String node, OtpSelf self, OtpConnection connection, long timeoutMs) {
    this.node = node;
    this.self = self;
    this.connection = connection;
    this.timeoutMs = timeoutMs;
  }

  /**
   * Connects to {@code node} (a full name) with {@code cookie}; {@code cookieSource} says
   * where the cookie came from, for the error when this fails.
   */
  static NodeClient connect(String node, String cookie, String cookieSource, long timeoutMs) throws UsageException {
    String host = node.substring(node.indexOf('@') + 1);
    String epmd = epmdProblem(node, host);
    if (epmd != null) {
      throw unreachable(node, epmd, cookieSource);
    }
    OtpSelf self;
    try {
      self = new OtpSelf(localName(host), cookie);
    } catch (IOException e) {
      throw new UsageException(UsageException.ENVIRONMENT, "cannot open a local socket for the client node: "
          + e.getMessage());
    }
    FutureTask<OtpConnection> attempt = new FutureTask<>(() -> self.connect(new OtpPeer(node)));
    Thread t = new Thread(attempt, "snakepit-shm-cli-connect");
    t.setDaemon(true);
    t.start();
    try {
      return new NodeClient(node, self, attempt.get(timeoutMs, TimeUnit.MILLISECONDS), timeoutMs);
    } catch (TimeoutException e) {
      attempt.cancel(true);
      throw unreachable(node, "epmd on " + host + " port " + EPMD_PORT + " lists it, but the connection did not "
          + "complete within " + timeoutMs + " ms: is the node stopped or overloaded?", cookieSource);
    } catch (ExecutionException e) {
      Throwable cause = e.getCause();
      String why = cause instanceof OtpAuthException ? "the node refused the handshake: the cookie does not match"
          : "the handshake failed (" + cause.getMessage() + "): most likely the cookie does not match";
      throw unreachable(node, "epmd on " + host + " port " + EPMD_PORT + " answers and lists it, but " + why,
          cookieSource);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw unreachable(node, "interrupted while connecting", cookieSource);
    }
  }

  /** The one-line error for a node that cannot be reached. */
  static UsageException unreachable(String node, String reason, String cookieSource) {
    return new UsageException(UsageException.NODE_UNREACHABLE, "cannot reach node " + node + ": " + reason
        + " (cookie from " + cookieSource + "; list and health also work without a node: --offline)");
  }

  /**
   * Why epmd on {@code host} does not lead to {@code node}, or null when it lists it: epmd
   * does not answer on port 4369, or answers but does not list the name (with the names it
   * does list).
   */
  static String epmdProblem(String node, String host) {
    String shortName = node.substring(0, node.indexOf('@'));
    try (Socket s = new Socket()) {
      s.connect(new InetSocketAddress(host, EPMD_PORT), EPMD_CONNECT_TIMEOUT_MS);
    } catch (IOException e) {
      return "epmd does not answer on " + host + " port " + EPMD_PORT + " (" + e.getMessage()
          + "), so no Erlang node runs there";
    }
    try {
      if (OtpEpmd.lookupPort(new OtpPeer(node)) > 0) {
        return null;
      }
    } catch (IOException e) {
      return "epmd answers on " + host + " port " + EPMD_PORT + " but its lookup of " + shortName + " failed ("
          + e.getMessage() + ")";
    }
    List<String> names = registeredNames(host);
    return "epmd answers on " + host + " port " + EPMD_PORT + " but does not list " + shortName
        + (names == null ? "" : names.isEmpty() ? " (no node is registered)"
            : " (it lists: " + String.join(", ", names.subList(0, Math.min(8, names.size())))
            + (names.size() > 8 ? ", ..." : "") + ")")
        + ": is the node running, under this name?";
  }

  /** What epmd says of {@code node}, as a phrase for an error message. */
  static String epmdStatus(String node) {
    String host = node.substring(node.indexOf('@') + 1);
    String problem = epmdProblem(node, host);
    return problem != null ? problem : "epmd on " + host + " port " + EPMD_PORT + " answers and lists "
        + node.substring(0, node.indexOf('@'));
  }

  /** The names epmd on {@code host} lists, or null when it cannot be asked. */
  private static List<String> registeredNames(String host) {
    try {
      List<String> out = new ArrayList<>();
      for (String line : OtpEpmd.lookupNames(InetAddress.getByName(host))) {
        // "name foo at port 12345"
        String[] words = line.strip().split("\\s+");
        if (words.length >= 2 && words[0].equals("name")) {
          out.add(words[1]);
        }
      }
      return out;
    } catch (IOException e) {
      return null;
    }
  }

  /** This client's node name: unique per process, with a host of the same kind (short or long) as the node's. */
  private static String localName(String peerHost) {
    String host = NodeCommand.shortHostName();
    if (peerHost.contains(".")) {
      try {
        host = InetAddress.getLocalHost().getCanonicalHostName();
      } catch (IOException e) {
        // keep the short name; the peer will refuse, and say so
      }
    }
    return "snakepit_shm_cli_" + ProcessHandle.current().pid() + "@" + host;
  }

  /** The node this client talks to. */
  String node() {
    return node;
  }

  /**
   * Makes one call and returns the decoded reply ({@link TermValues}). No reply within the
   * timeout, or a broken connection, is {@link UsageException#NODE_UNREACHABLE}.
   */
  Object call(OtpErlangObject request) throws UsageException {
    OtpErlangRef ref = self.createRef();
    try {
      connection.send(REGISTERED_NAME, new OtpErlangTuple(new OtpErlangObject[] {new OtpErlangAtom("$gen_call"),
          new OtpErlangTuple(new OtpErlangObject[] {self.pid(), ref}), request}));
      long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(timeoutMs);
      while (true) {
        long leftMs = TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime());
        if (leftMs <= 0) {
          throw noAnswer(request);
        }
        OtpErlangObject msg;
        try {
          msg = connection.receive(leftMs);
        } catch (InterruptedException timeout) {
          // JInterface signals an expired receive this way
          throw noAnswer(request);
        }
        if (msg instanceof OtpErlangTuple t && t.arity() == 2 && ref.equals(t.elementAt(0))) {
          return TermValues.of(t.elementAt(1));
        }
        // anything else (there should be nothing) is not our reply
      }
    } catch (IOException | OtpErlangExit | OtpAuthException e) {
      throw new UsageException(UsageException.NODE_UNREACHABLE, "lost the connection to node " + node + " during "
          + describe(request) + ": " + e.getMessage());
    }
  }

  /**
   * Makes one call whose reply is {@code {:ok, value}} (or {@code :ok}) and returns value.
   * {@code {:error, %{code:, message:, remediation:}}} becomes a one-line error starting
   * with {@code what}: status {@link UsageException#BAD_ARGUMENTS} for {@code :invalid_request}
   * (the node found an argument bad), else {@link UsageException#ENVIRONMENT}.
   */
  Object ok(OtpErlangObject request, String what) throws UsageException {
    Object reply = call(request);
    if ("ok".equals(reply)) {
      return "ok";
    }
    if (reply instanceof List<?> l && l.size() == 2 && "ok".equals(l.get(0))) {
      return l.get(1);
    }
    if (reply instanceof List<?> l && l.size() == 2 && "error".equals(l.get(0)) && l.get(1) instanceof Map<?, ?> m) {
      // the node found the request itself bad (a bad filter, key or value): a usage error
      throw new UsageException("invalid_request".equals(m.get("code")) ? UsageException.BAD_ARGUMENTS
          : UsageException.ENVIRONMENT, what + ": " + errorText(m));
    }
    throw new UsageException(UsageException.ENVIRONMENT, what + ": unexpected reply " + Json.write(reply));
  }

  /** {@code code: message (remediation)} of a decoded error map. */
  static String errorText(Map<?, ?> error) {
    Object remediation = error.get("remediation");
    return error.get("code") + ": " + error.get("message")
        + (remediation == null || remediation.toString().isBlank() ? "" : " (" + remediation + ")");
  }

  private UsageException noAnswer(OtpErlangObject request) {
    return new UsageException(UsageException.NODE_UNREACHABLE, "node " + node + " did not answer "
        + describe(request) + " within " + timeoutMs + " ms (no process " + REGISTERED_NAME
        + " there, or it is overloaded); raise --timeout-ms to wait longer");
  }

  private static String describe(OtpErlangObject request) {
    if (request instanceof OtpErlangAtom a) {
      return a.atomValue();
    }
    if (request instanceof OtpErlangTuple t && t.arity() > 0 && t.elementAt(0) instanceof OtpErlangAtom a) {
      return a.atomValue();
    }
    return "the call";
  }

  @Override
  public void close() {
    connection.close();
  }

  // ---------------------------------------------------------------- request terms

  static OtpErlangAtom atom(String name) {
    return new OtpErlangAtom(name);
  }

  static OtpErlangTuple tuple(OtpErlangObject... elements) {
    return new OtpErlangTuple(elements);
  }

  static OtpErlangBinary binary(String text) {
    return new OtpErlangBinary(text.getBytes(StandardCharsets.UTF_8));
  }

  /**
   * A map with atom keys from Java values: String becomes a binary, Long an integer, an
   * OtpErlangObject stays; null values are left out.
   */
  static OtpErlangMap map(Map<String, ?> entries) {
    List<OtpErlangObject> keys = new ArrayList<>();
    List<OtpErlangObject> values = new ArrayList<>();
    for (Map.Entry<String, ?> e : entries.entrySet()) {
      Object v = e.getValue();
      if (v == null) {
        continue;
      }
      keys.add(atom(e.getKey()));
      values.add(v instanceof OtpErlangObject o ? o : v instanceof Number n ? new OtpErlangLong(n.longValue())
          : binary(v.toString()));
    }
    return new OtpErlangMap(keys.toArray(new OtpErlangObject[0]), values.toArray(new OtpErlangObject[0]));
  }

  static OtpErlangList list(List<OtpErlangObject> items) {
    return new OtpErlangList(items.toArray(new OtpErlangObject[0]));
  }
}

package io.snakepit.shm.cli;

import java.io.PrintStream;

/**
 * Progress of a long check on a terminal: {@code checked 1200/5000 segments} on stderr,
 * rewritten in place at most every {@link #INTERVAL_MS} and erased at the end. Silent when
 * the CLI does not run on a terminal ({@code System.console() == null}), so logs and pipes
 * get no control characters.
 */
final class Progress {
  static final long INTERVAL_MS = 200;

  private final PrintStream err;
  private final boolean enabled;
  private final String verb;
  private long lastNs;
  private boolean shown;

  Progress(PrintStream err, boolean enabled, String verb) {
    this.err = err;
    this.enabled = enabled;
    this.verb = verb;
  }

  /** Progress on stderr when this process runs on a terminal. */
  static Progress onTerminal(String verb) {
    return new Progress(System.err, System.console() != null, verb);
  }

  /** Reports {@code done} of {@code total} {@code what}s (total < 0: unknown). */
  void update(long done, long total, String what) {
    if (!enabled) {
      return;
    }
    long now = System.nanoTime();
    if (shown && now - lastNs < INTERVAL_MS * 1_000_000 && done != total) {
      return;
    }
    lastNs = now;
    shown = true;
    err.print("\r" + verb + " " + done + (total >= 0 ? "/" + total : "") + " " + what + "\033[K");
    err.flush();
  }

  /** Erases the progress line. */
  void done() {
    if (enabled && shown) {
      err.print("\r\033[K");
      err.flush();
      shown = false;
    }
  }
}

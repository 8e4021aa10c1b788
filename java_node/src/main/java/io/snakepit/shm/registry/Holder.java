package io.snakepit.shm.registry;

/**
 * Who holds references to a region: a BEAM process, or an OS process (a Python worker).
 * Holders are value objects used as map keys.
 */
public sealed interface Holder permits Holder.BeamProcess, Holder.OsProcess {

  /**
   * A BEAM process. {@code pid} is the protocol layer's pid value (JInterface's
   * OtpErlangPid); the registry only compares it.
   */
  record BeamProcess(Object pid) implements Holder {
    @Override
    public String toString() {
      return String.valueOf(pid);
    }
  }

  /**
   * An OS process, named by its pid and its start time in clock ticks since boot so that
   * a reused pid is not mistaken for the original process.
   */
  record OsProcess(long pid, long startTicks) implements Holder {
    @Override
    public String toString() {
      return "os_pid " + pid;
    }
  }
}

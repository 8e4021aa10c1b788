package io.snakepit.shm.cli;

/** A command-line or start-up problem: printed as one line on stderr with an exit status. */
public final class UsageException extends Exception {
  private static final long serialVersionUID = 1L;

  /** Exit status for bad arguments. */
  public static final int BAD_ARGUMENTS = 2;
  /**
   * Exit status for an environment problem (epmd, name taken, cookie, shm dir), and for a
   * diagnostics command the node answered with an error.
   */
  public static final int ENVIRONMENT = 1;
  /**
   * Exit status of a diagnostics command that could not reach its node (no epmd, name not
   * registered, wrong or unreadable cookie, no answer in time). OPERATIONS.md "Diagnostics CLI".
   */
  public static final int NODE_UNREACHABLE = 3;

  private final int exitStatus;

  public UsageException(int exitStatus, String message) {
    super(message);
    this.exitStatus = exitStatus;
  }

  public int exitStatus() {
    return exitStatus;
  }
}

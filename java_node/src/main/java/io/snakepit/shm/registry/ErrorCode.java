package io.snakepit.shm.registry;

/**
 * The error codes of CONTRACT section 4, each with a fixed number for logs and metrics.
 * The atom sent to Elixir is {@link #atom()}.
 */
public enum ErrorCode {
  INVALID_REQUEST(1, "invalid_request"),
  NOT_FOUND(2, "not_found"),
  FORBIDDEN(3, "forbidden"),
  LIMIT_EXCEEDED(4, "limit_exceeded"),
  NO_SPACE(5, "no_space"),
  INVALID_REGION(6, "invalid_region"),
  TIMEOUT(7, "timeout"),
  PLATFORM_ERROR(8, "platform_error"),
  BUSY(9, "busy");

  private final int number;
  private final String atom;

  ErrorCode(int number, String atom) {
    this.number = number;
    this.atom = atom;
  }

  /** Fixed number, stable across releases. */
  public int number() {
    return number;
  }

  /** The atom name used on the wire, e.g. {@code not_found}. */
  public String atom() {
    return atom;
  }
}

package io.snakepit.shm.registry;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * An error as a value: a code, a message, an optional remediation and extra facts
 * ({@code limit}, {@code requested}, {@code errno}, ...). Thrown by the registry and the
 * request parser; the node's one catch-all turns it into {@code {:error, map}}.
 *
 * <p>Extra values are {@link Long}, {@link String}, {@link Boolean} or an atom name
 * wrapped in {@link Atom}.
 */
public final class ShmException extends RuntimeException {
  private static final long serialVersionUID = 1L;

  /** An atom-valued extra fact. */
  public record Atom(String name) {}

  private final ErrorCode code;
  private final String remediation;
  private final transient Map<String, Object> extra;

  private ShmException(ErrorCode code, String message, String remediation, Map<String, Object> extra) {
    super(message);
    this.code = code;
    this.remediation = remediation;
    this.extra = extra;
  }

  public static ShmException of(ErrorCode code, String message) {
    return new ShmException(code, message, null, new LinkedHashMap<>());
  }

  public static ShmException of(ErrorCode code, String message, String remediation) {
    return new ShmException(code, message, remediation, new LinkedHashMap<>());
  }

  public static ShmException invalid(String message) {
    return of(ErrorCode.INVALID_REQUEST, message, "See docs/PROTOCOL.md for the accepted requests and options.");
  }

  /** Adds an extra fact to the error map; returns this for chaining. */
  public ShmException with(String key, Object value) {
    extra.put(key, value);
    return this;
  }

  public ErrorCode code() {
    return code;
  }

  /** What the caller can do about it, or null. */
  public String remediation() {
    return remediation;
  }

  /** Extra facts in insertion order, read-only. */
  public Map<String, Object> extra() {
    return Collections.unmodifiableMap(extra);
  }
}

package io.snakepit.shm.registry;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;

/**
 * The secret that makes a caller an operator (SECURITY.md "Operator role"): a request
 * that carries {@code operator_key: key} may list and inspect the regions of every
 * tenant. The node reads it from {@code --operator-key-file}; a node started without one
 * has no operators.
 *
 * <p>Only a SHA-256 digest of the key is kept, and presented keys are compared by digest
 * in constant time, so neither timing nor a heap dump gives the key away.
 *
 * <p>Thread-safety: immutable.
 */
public final class OperatorKey {
  /** Shortest key accepted: 16 characters. */
  public static final int MIN_CHARS = 16;
  private static final OperatorKey NONE = new OperatorKey(null);

  private final byte[] digest;

  private OperatorKey(byte[] digest) {
    this.digest = digest;
  }

  /** A node without operators. */
  public static OperatorKey none() {
    return NONE;
  }

  /** The operator key {@code key} (at least {@link #MIN_CHARS} characters). */
  public static OperatorKey of(String key) {
    if (key == null || key.length() < MIN_CHARS) {
      throw new IllegalArgumentException("an operator key has at least " + MIN_CHARS + " characters");
    }
    return new OperatorKey(sha256(key));
  }

  /** True when this node has an operator key. */
  public boolean isSet() {
    return digest != null;
  }

  /** True when {@code presented} is the key. */
  public boolean matches(String presented) {
    return digest != null && presented != null && MessageDigest.isEqual(digest, sha256(presented));
  }

  private static byte[] sha256(String s) {
    try {
      return MessageDigest.getInstance("SHA-256").digest(s.getBytes(StandardCharsets.UTF_8));
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException("SHA-256 is part of every Java runtime", e);
    }
  }

  @Override
  public String toString() {
    return digest == null ? "OperatorKey[none]" : "OperatorKey[set]";
  }
}

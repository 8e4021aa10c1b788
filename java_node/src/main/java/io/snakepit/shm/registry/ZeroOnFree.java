package io.snakepit.shm.registry;

/** When a region's bytes are zeroed before its memory is released or reused. */
public enum ZeroOnFree {
  /** Only regions allocated with {@code sensitive: true}. */
  SENSITIVE("sensitive"),
  /** Every region. */
  ALWAYS("always"),
  /**
   * Only regions allocated with {@code sensitive: true}, which are always zeroed; other
   * pooled blocks are then not cleared before reuse (nor given back until their segment goes).
   */
  NEVER("never");

  private final String atom;

  ZeroOnFree(String atom) {
    this.atom = atom;
  }

  public String atom() {
    return atom;
  }

  public static ZeroOnFree fromAtom(String atom) {
    for (ZeroOnFree z : values()) {
      if (z.atom.equals(atom)) {
        return z;
      }
    }
    return null;
  }

  /**
   * True when a region with the given sensitivity must be zeroed: a sensitive region
   * always (no setting turns that off), any region under {@link #ALWAYS}.
   */
  public boolean requiresZeroing(boolean sensitive) {
    return this == ALWAYS || sensitive;
  }
}

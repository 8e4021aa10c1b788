package io.snakepit.shm.registry;

/** What a descriptor lets its holder do with the payload. */
public enum Access {
  READ_WRITE("read_write"),
  READ_ONLY("read_only");

  private final String atom;

  Access(String atom) {
    this.atom = atom;
  }

  public String atom() {
    return atom;
  }

  /** Parses the wire atom, or returns null. */
  public static Access fromAtom(String atom) {
    for (Access a : values()) {
      if (a.atom.equals(atom)) {
        return a;
      }
    }
    return null;
  }
}

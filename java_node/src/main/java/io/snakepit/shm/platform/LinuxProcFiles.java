package io.snakepit.shm.platform;

/**
 * Parsers for the text of the Linux /proc files {@link LinuxPlatform} reads. Pure
 * functions on strings, so odd inputs (a command name holding spaces and parentheses) are
 * testable without a matching process.
 */
final class LinuxProcFiles {
  /** 1-based index of {@code starttime} in /proc/PID/stat, see proc_pid_stat(5). */
  static final int START_TIME_FIELD = 22;
  /** 1-based index of the first field after the {@code (comm)} field. */
  private static final int FIRST_FIELD_AFTER_COMM = 3;
  private static final int BOOT_ID_BYTES = 16;

  private LinuxProcFiles() {}

  /**
   * The {@code starttime} (field 22, clock ticks since boot) of a /proc/PID/stat line. The
   * second field, {@code (comm)}, may itself contain spaces and parentheses, so fields are
   * counted from after the last ')'.
   *
   * @throws IllegalArgumentException when the line is not in that format
   */
  static long startTicksFromStat(String statLine) {
    int commEnd = statLine.lastIndexOf(')');
    if (commEnd < 0) {
      throw new IllegalArgumentException("no ')' closing the command name in /proc stat line: " + statLine);
    }
    String[] fields = statLine.substring(commEnd + 1).trim().split(" +");
    int index = START_TIME_FIELD - FIRST_FIELD_AFTER_COMM;
    if (fields.length <= index) {
      throw new IllegalArgumentException("only " + (fields.length + 2) + " fields in /proc stat line,"
          + " field " + START_TIME_FIELD + " (starttime) missing: " + statLine);
    }
    try {
      return Long.parseLong(fields[index]);
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException("field " + START_TIME_FIELD + " (starttime) is not a number: "
          + fields[index], e);
    }
  }

  /**
   * The 16 bytes of a boot_id UUID text such as {@code 3f1c0a9e-5b7d-4e2a-9c1f-0a1b2c3d4e5f}
   * (trailing newline allowed), in the order the hex digits are written.
   *
   * @throws IllegalArgumentException when the text is not such a UUID
   */
  static byte[] bootIdBytes(String text) {
    String trimmed = text.trim();
    String hex = trimmed.replace("-", "");
    if (trimmed.length() != 36 || hex.length() != 2 * BOOT_ID_BYTES) {
      throw new IllegalArgumentException("boot_id is not a UUID text: '" + trimmed + "'");
    }
    byte[] id = new byte[BOOT_ID_BYTES];
    for (int i = 0; i < BOOT_ID_BYTES; i++) {
      int high = Character.digit(hex.charAt(2 * i), 16);
      int low = Character.digit(hex.charAt(2 * i + 1), 16);
      if (high < 0 || low < 0) {
        throw new IllegalArgumentException("boot_id has a non-hex digit: '" + trimmed + "'");
      }
      id[i] = (byte) (high << 4 | low);
    }
    return id;
  }
}

package io.snakepit.shm.cli;

/**
 * One command-line flag of a diagnostics command, with what its help line says.
 *
 * @param name         {@code --name}
 * @param valueName    the value's placeholder ({@code N}, {@code FILE}), or null for a switch
 * @param defaultText  what applies when the flag is not given
 * @param help         what the flag does
 */
public record Flag(String name, String valueName, String defaultText, String help) {
  /** True when the flag takes a value. */
  public boolean takesValue() {
    return valueName != null;
  }

  /** The flag as its help line shows it: {@code --limit N}. */
  String synopsis() {
    return takesValue() ? name + " " + valueName : name;
  }
}

package io.snakepit.shm.platform;

import java.util.regex.Pattern;

/**
 * The security descriptor every section is created with: a protected DACL with one
 * ACCESS_ALLOWED_ACE granting GENERIC_ALL to the current user's SID, in SDDL
 * {@code D:P(A;;GA;;;<SID>)}. Nobody else (not Administrators, not SYSTEM, not other
 * sessions of other users) is granted access; "P" stops inherited ACEs from being added.
 * WindowsPlatform turns the string into a descriptor with
 * ConvertStringSecurityDescriptorToSecurityDescriptorW, after reading the SID with
 * GetTokenInformation(TokenUser) and ConvertSidToStringSidW.
 */
final class WindowsSecurity {
  /** S-R-I-S-S...: revision 1, an authority, up to 15 sub-authorities, digits only. */
  private static final Pattern SID = Pattern.compile("S-1-\\d{1,15}(-\\d{1,10}){1,15}");

  private WindowsSecurity() {}

  /** True when {@code sid} is a SID in string form ({@code S-1-5-21-...}). */
  static boolean isSidString(String sid) {
    return sid != null && SID.matcher(sid).matches();
  }

  /**
   * The SDDL of a descriptor that grants every right to {@code sid} and nothing to anyone
   * else.
   *
   * @throws IllegalArgumentException when {@code sid} is not a SID string (which also
   *     keeps SDDL syntax such as ';' or ')' out of the descriptor)
   */
  static String ownerOnlySddl(String sid) {
    if (!isSidString(sid)) {
      throw new IllegalArgumentException("not a SID string: '" + sid + "'");
    }
    return "D:P(A;;GA;;;" + sid + ")";
  }

  /**
   * Fails unless {@code mode} grants nothing to group and others: a section's DACL can
   * only express "the current user", so a mode such as 0644 cannot be honoured.
   */
  static void requireOwnerOnlyMode(int mode) {
    if ((mode & ~07777) != 0 || (mode & 0077) != 0) {
      throw new IllegalArgumentException("Windows sections are created for the current user only; mode "
          + Integer.toOctalString(mode) + " would grant access to group or others");
    }
  }
}

package io.snakepit.shm.segment;

import java.io.IOException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.AclEntry;
import java.nio.file.attribute.AclEntryFlag;
import java.nio.file.attribute.AclEntryPermission;
import java.nio.file.attribute.AclEntryType;
import java.nio.file.attribute.FileAttribute;
import java.nio.file.attribute.PosixFilePermissions;
import java.nio.file.attribute.UserPrincipal;
import java.util.EnumSet;
import java.util.List;
import java.util.Set;

/**
 * Creates directories and files only their owner can use: mode 0700 / 0600 where the file
 * system has POSIX permissions (Linux, macOS), else (Windows, NTFS) a security descriptor
 * whose DACL has one entry, granting everything to the current user. The access is set by
 * the creating call itself, so there is no moment in which the path is open to others.
 *
 * <p>The Windows branch cannot run here (Linux has no ACL view); {@link #ownerOnlyAcl} is
 * what it applies, and is unit-tested. Thread-safety: stateless.
 */
public final class PrivatePaths {
  private PrivatePaths() {}

  /**
   * Creates {@code dir} (not its parents) for its owner only, unless it exists already.
   *
   * @return true when it was created now, false when something was there already (the
   *     caller checks what: {@link ShmDirGuard#dirProblem})
   */
  public static boolean createDirectoryIfMissing(Path dir) throws IOException {
    try {
      if (posix(dir)) {
        Files.createDirectory(dir, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
        // the umask can only have removed bits; set the mode anyway so it is exactly 0700
        Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwx------"));
      } else {
        Files.createDirectory(dir, aclAttribute(currentUser(dir), true));
      }
      return true;
    } catch (FileAlreadyExistsException e) {
      return false;
    }
  }

  /**
   * Creates the file {@code file} for its owner only (mode 0600, or an owner-only DACL).
   *
   * @throws FileAlreadyExistsException when it exists
   */
  public static void createFile(Path file) throws IOException {
    if (posix(file)) {
      Files.createFile(file, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")));
    } else {
      Files.createFile(file, aclAttribute(currentUser(file), false));
    }
  }

  /**
   * The DACL entries of an owner-only path: one ALLOW entry granting every permission to
   * {@code owner}; on a directory inherited by the files and directories made in it.
   */
  public static List<AclEntry> ownerOnlyAcl(UserPrincipal owner, boolean directory) {
    Set<AclEntryFlag> flags = directory ? EnumSet.of(AclEntryFlag.FILE_INHERIT, AclEntryFlag.DIRECTORY_INHERIT)
        : EnumSet.noneOf(AclEntryFlag.class);
    return List.of(AclEntry.newBuilder().setType(AclEntryType.ALLOW).setPrincipal(owner)
        .setPermissions(EnumSet.allOf(AclEntryPermission.class)).setFlags(flags).build());
  }

  private static boolean posix(Path p) {
    return p.getFileSystem().supportedFileAttributeViews().contains("posix");
  }

  private static UserPrincipal currentUser(Path p) throws IOException {
    return p.getFileSystem().getUserPrincipalLookupService().lookupPrincipalByName(System.getProperty("user.name"));
  }

  private static FileAttribute<List<AclEntry>> aclAttribute(UserPrincipal owner, boolean directory) {
    List<AclEntry> acl = ownerOnlyAcl(owner, directory);
    return new FileAttribute<>() {
      @Override
      public String name() {
        return "acl:acl";
      }

      @Override
      public List<AclEntry> value() {
        return acl;
      }
    };
  }
}

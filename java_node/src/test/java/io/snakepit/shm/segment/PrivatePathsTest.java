package io.snakepit.shm.segment;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.AclEntry;
import java.nio.file.attribute.AclEntryFlag;
import java.nio.file.attribute.AclEntryPermission;
import java.nio.file.attribute.AclEntryType;
import java.nio.file.attribute.PosixFilePermissions;
import java.nio.file.attribute.UserPrincipal;
import java.util.Comparator;
import java.util.EnumSet;
import java.util.List;
import java.util.Set;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** Owner-only directories and files: real ones on Linux, and the ACL Windows would get. */
class PrivatePathsTest {
  private Path root;

  @BeforeEach
  void setUp() throws IOException {
    root = Files.createTempDirectory("snktest-private-");
  }

  @AfterEach
  void tearDown() throws IOException {
    try (Stream<Path> s = Files.walk(root)) {
      for (Path p : s.sorted(Comparator.reverseOrder()).toList()) {
        Files.deleteIfExists(p);
      }
    }
  }

  @Test
  void aMissingDirectoryIsCreatedWithMode700AndAnExistingOneLeftAsItIs() throws IOException {
    Path dir = root.resolve("state");
    assertTrue(PrivatePaths.createDirectoryIfMissing(dir));
    assertEquals("rwx------", PosixFilePermissions.toString(Files.getPosixFilePermissions(dir)));
    Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwxr-x---"));
    assertFalse(PrivatePaths.createDirectoryIfMissing(dir), "exists: not created, not changed");
    assertEquals("rwxr-x---", PosixFilePermissions.toString(Files.getPosixFilePermissions(dir)));
    assertThrows(IOException.class, () -> PrivatePaths.createDirectoryIfMissing(root.resolve("no/parent")));
  }

  @Test
  void aFileIsCreatedWithMode600AndNeverOverAnExistingOne() throws IOException {
    Path file = root.resolve("audit.log");
    PrivatePaths.createFile(file);
    assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(file)));
    assertThrows(FileAlreadyExistsException.class, () -> PrivatePaths.createFile(file));
  }

  @Test
  void theWindowsAclGrantsEverythingToTheUserAndNothingToAnyoneElse() throws IOException {
    UserPrincipal me = FileSystems.getDefault().getUserPrincipalLookupService()
        .lookupPrincipalByName(System.getProperty("user.name"));
    List<AclEntry> dir = PrivatePaths.ownerOnlyAcl(me, true);
    assertEquals(1, dir.size());
    AclEntry e = dir.get(0);
    assertEquals(AclEntryType.ALLOW, e.type());
    assertEquals(me, e.principal());
    assertEquals(EnumSet.allOf(AclEntryPermission.class), e.permissions());
    assertEquals(Set.of(AclEntryFlag.FILE_INHERIT, AclEntryFlag.DIRECTORY_INHERIT), e.flags());
    List<AclEntry> file = PrivatePaths.ownerOnlyAcl(me, false);
    assertEquals(1, file.size());
    assertEquals(Set.of(), file.get(0).flags());
    assertEquals(me, file.get(0).principal());
  }
}

package io.snakepit.shm.platform;

import com.sun.jna.Platform;

/**
 * The ABI facts of glibc/musl Linux that differ between the CPU architectures we support:
 * the {@code O_NOFOLLOW} bit and the layout of {@code struct stat}. Everything else
 * {@link LinuxPlatform} uses (other open flags, mmap flags, errno values, the layout of
 * {@code struct statvfs}) is the same on x86_64 and aarch64.
 *
 * <p>{@code struct stat} byte offsets, from the kernel's {@code asm/stat.h} as exposed by
 * glibc's {@code bits/struct_stat.h}:
 *
 * <pre>
 *                 x86_64                         aarch64 (asm-generic)
 *   0  st_dev     u64                 0  st_dev      u64
 *   8  st_ino     u64                 8  st_ino      u64
 *  16  st_nlink   u64                16  st_mode     u32
 *  24  st_mode    u32                20  st_nlink    u32
 *  28  st_uid     u32                24  st_uid      u32
 *  32  st_gid     u32                28  st_gid      u32
 *  36  pad        u32                32  st_rdev     u64
 *  40  st_rdev    u64                40  pad         u64
 *  48  st_size    i64                48  st_size     i64
 *  56  st_blksize i64                56  st_blksize  i32 + pad i32
 *  64  st_blocks  i64 (512 B units)  64  st_blocks   i64 (512 B units)
 *  72  3 x timespec, reserved; 144   72  3 x timespec, reserved; 128
 * </pre>
 */
enum LinuxArch {
  X86_64(0400000, 24, 28, 1),
  AARCH64(0100000, 16, 24, 0);

  /** Bytes to allocate for a {@code struct stat}; larger than either layout. */
  static final int STAT_BUFFER_BYTES = 256;
  /** Offset of {@code st_size} (same on both). */
  static final int STAT_SIZE_OFFSET = 48;
  /** Offset of {@code st_blocks} (same on both). */
  static final int STAT_BLOCKS_OFFSET = 64;
  /** Unit of {@code st_blocks} in bytes. */
  static final long STAT_BLOCK_UNIT_BYTES = 512;

  /** The {@code O_NOFOLLOW} flag of open(2). */
  final int oNoFollow;
  /** Offset of {@code st_mode} (u32). */
  final int statModeOffset;
  /** Offset of {@code st_uid} (u32). */
  final int statUidOffset;
  /** {@code _STAT_VER} for {@code __fxstat}, the symbol glibc before 2.33 exports instead of fstat. */
  final int fxstatVersion;

  LinuxArch(int oNoFollow, int statModeOffset, int statUidOffset, int fxstatVersion) {
    this.oNoFollow = oNoFollow;
    this.statModeOffset = statModeOffset;
    this.statUidOffset = statUidOffset;
    this.fxstatVersion = fxstatVersion;
  }

  /**
   * The architecture of this JVM.
   *
   * @throws UnsupportedOperationException on anything but 64-bit x86 or ARM
   */
  static LinuxArch current() {
    if (Platform.is64Bit() && Platform.isIntel()) {
      return X86_64;
    }
    if (Platform.is64Bit() && Platform.isARM()) {
      return AARCH64;
    }
    throw new UnsupportedOperationException("snakepit-shm supports Linux on x86_64 and aarch64 only, not "
        + System.getProperty("os.arch") + " (" + Platform.ARCH + "): the struct layouts of other"
        + " architectures are not described in LinuxArch");
  }
}

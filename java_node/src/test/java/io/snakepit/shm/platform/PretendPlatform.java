package io.snakepit.shm.platform;

import java.nio.file.Path;
import java.util.Set;

/**
 * The real {@link LinuxPlatform} reporting another {@link OsFamily} and its features, so the
 * layers above can be tested on Linux for what they do on macOS or Windows: the wording of
 * their messages, and which file-based checks and sweeps they skip. Every OS call still goes
 * to Linux (segments are real files in the test's directory); only {@link #family()} and
 * {@link #features()} differ, plus two optional faults: {@link #failTruncateWithNoSpace()}
 * and a fixed {@link #fixStatFs} answer.
 */
public final class PretendPlatform implements SharedMemoryPlatform {
  private final LinuxPlatform linux = new LinuxPlatform();
  private final OsFamily family;
  private volatile boolean noSpace;
  private volatile FsStat fsStat;

  public PretendPlatform(OsFamily family) {
    this.family = family;
  }

  /** Every later {@link #truncate} fails with ENOSPC, as a full system does. */
  public PretendPlatform failTruncateWithNoSpace() {
    noSpace = true;
    return this;
  }

  /** {@link #statFs} answers {@code total} and {@code available} bytes from now on. */
  public PretendPlatform fixStatFs(long totalBytes, long availableBytes) {
    fsStat = new FsStat(totalBytes, availableBytes, availableBytes);
    return this;
  }

  @Override
  public OsFamily family() {
    return family;
  }

  @Override
  public Set<PlatformFeature> features() {
    return family.features();
  }

  @Override
  public int createExclusive(Path shmDir, String fileName, int mode) {
    return linux.createExclusive(shmDir, fileName, mode);
  }

  @Override
  public int openExisting(Path shmDir, String fileName, boolean readWrite) {
    return linux.openExisting(shmDir, fileName, readWrite);
  }

  @Override
  public void truncate(int fd, long sizeBytes, String name) {
    if (noSpace) {
      throw new PlatformException("ftruncate", name, PlatformException.ENOSPC, "No space left on device (pretended)");
    }
    linux.truncate(fd, sizeBytes, name);
  }

  @Override
  public void reserve(int fd, long offsetBytes, long lengthBytes, String name) {
    linux.reserve(fd, offsetBytes, lengthBytes, name);
  }

  @Override
  public void punchHole(int fd, long offsetBytes, long lengthBytes, String name) {
    linux.punchHole(fd, offsetBytes, lengthBytes, name);
  }

  @Override
  public Mapping map(int fd, long offsetBytes, long lengthBytes, boolean writable, String name) {
    return linux.map(fd, offsetBytes, lengthBytes, writable, name);
  }

  @Override
  public void unmap(Mapping mapping) {
    linux.unmap(mapping);
  }

  @Override
  public void unlink(Path shmDir, String fileName) {
    linux.unlink(shmDir, fileName);
  }

  @Override
  public void close(int fd) {
    linux.close(fd);
  }

  @Override
  public FileStat stat(int fd, String name) {
    return linux.stat(fd, name);
  }

  @Override
  public FsStat statFs(Path dir) {
    FsStat fixed = fsStat;
    return fixed != null ? fixed : linux.statFs(dir);
  }

  @Override
  public boolean tryLock(int fd, long offsetBytes, long lengthBytes, boolean exclusive, String name) {
    return linux.tryLock(fd, offsetBytes, lengthBytes, exclusive, name);
  }

  @Override
  public void unlock(int fd, long offsetBytes, long lengthBytes, String name) {
    linux.unlock(fd, offsetBytes, lengthBytes, name);
  }

  @Override
  public boolean isWriteLockedByOthers(int fd, long offsetBytes, long lengthBytes, String name) {
    return linux.isWriteLockedByOthers(fd, offsetBytes, lengthBytes, name);
  }

  @Override
  public long pageSizeBytes() {
    return linux.pageSizeBytes();
  }

  @Override
  public long currentPid() {
    return linux.currentPid();
  }

  @Override
  public long processStartTicks(long pid) {
    return linux.processStartTicks(pid);
  }

  @Override
  public byte[] bootId() {
    return linux.bootId();
  }
}

package io.snakepit.shm.platform;

import com.sun.jna.Memory;
import com.sun.jna.Native;
import com.sun.jna.NativeLibrary;
import com.sun.jna.Platform;
import com.sun.jna.Pointer;
import com.sun.jna.WString;
import java.nio.file.Path;
import java.util.Objects;
import java.util.Set;

/**
 * {@link SharedMemoryPlatform} on 64-bit Windows (x64 and ARM64): named, pagefile-backed
 * sections (CreateFileMappingW with INVALID_HANDLE_VALUE) through kernel32, advapi32 and
 * ntdll by JNA. The native bindings are private to this class and are loaded only when a
 * WindowsPlatform is constructed, which fails at once on any other OS. docs/PLATFORMS.md
 * says what differs from Linux and what has (not) been verified; in short:
 *
 * <ul>
 *   <li>Descriptors: the {@code int fd} of the interface is a number in a
 *       {@link DescriptorTable} standing for a section HANDLE (or for a name not created
 *       yet, see sizing).
 *   <li>Naming: {@code Local\} + file name by default ({@link WindowsNamespace}); the shm
 *       dir argument names nothing and is ignored.
 *   <li>Permissions: every section gets an explicit security descriptor whose DACL grants
 *       access to the current user's SID only ({@link WindowsSecurity}); the mode must be
 *       owner-only.
 *   <li>Sizing: a section's size is fixed when it is created, so {@link #createExclusive}
 *       only claims the name and {@link #truncate} creates the section, once, with
 *       {@code PAGE_READWRITE | SEC_COMMIT}. ERROR_ALREADY_EXISTS is EEXIST.
 *   <li>Reservation: SEC_COMMIT charges the whole size against the commit limit at
 *       creation (a full system fails truncate with ENOSPC), so {@link #reserve} only
 *       checks the range.
 *   <li>Lifetime: by handles. There is no unlink; a section lives while any process holds
 *       a handle (or a view). {@link #unlink} closes the handles this process still has.
 *   <li>Zeroing: no hole punching; zeros are written through a view.
 *   <li>Locks: LockFileEx needs a file handle, and a section has none; locks are kept in
 *       this process ({@link ProcessLocalLocks}) and {@link #isWriteLockedByOthers} fails
 *       with EOPNOTSUPP.
 *   <li>Process identity: the creation FILETIME from OpenProcess + GetProcessTimes; boot
 *       id: BootTime minus BootTimeBias from NtQuerySystemInformation.
 * </ul>
 *
 * <p>Errors: GetLastError, read with {@link Native#getLastError()}, becomes an errno by
 * {@link WindowsErrors#toErrno}; the Win32 code and the system's text stay in the message.
 *
 * <p>Thread-safety: safe to call from any thread; per-descriptor state is guarded by the
 * descriptor's entry.
 */
public final class WindowsPlatform implements SharedMemoryPlatform {
  /** INVALID_HANDLE_VALUE, ((HANDLE) -1): CreateFileMapping's "back it with the paging file". */
  private static final Pointer INVALID_HANDLE_VALUE = new Pointer(-1L);
  /** Mode reported by {@link #stat} for a section this platform created (its DACL: the user only). */
  private static final int OWNER_ONLY_MODE = 0100600;

  private final WindowsNamespace namespace;
  private final long pageSizeBytes;
  private final long granularityBytes;
  /** The security descriptor (self-relative, LocalAlloc'd, kept for the process's life). */
  private final Pointer securityDescriptor;
  private final String userSid;
  private final DescriptorTable<Section> sections = new DescriptorTable<>();
  private final ProcessLocalLocks locks = new ProcessLocalLocks();

  /** What a descriptor stands for. Guarded by itself. */
  private static final class Section {
    final String objectName;
    final boolean createdHere;
    final boolean writable;
    /** The section handle; null while a name claimed by createExclusive is not sized yet. */
    Pointer handle;
    /** Bytes; 0 until known. */
    long sizeBytes;

    Section(String objectName, boolean createdHere, boolean writable, Pointer handle) {
      this.objectName = objectName;
      this.createdHere = createdHere;
      this.writable = writable;
      this.handle = handle;
    }
  }

  /** A platform naming sections in the {@link WindowsNamespace#LOCAL} namespace. */
  public WindowsPlatform() {
    this(WindowsNamespace.LOCAL);
  }

  /**
   * Binds the Windows libraries and builds the owner-only security descriptor.
   *
   * @param namespace where section names live; {@link WindowsNamespace#GLOBAL} needs
   *     SeCreateGlobalPrivilege to create sections
   * @throws UnsupportedPlatformException when not on Windows
   */
  public WindowsPlatform(WindowsNamespace namespace) {
    if (!Platform.isWindows()) {
      throw new UnsupportedPlatformException("WindowsPlatform runs on Windows only, not on "
          + System.getProperty("os.name"));
    }
    LinuxMapping.requireLittleEndian();
    this.namespace = Objects.requireNonNull(namespace, "namespace");
    try (Memory info = new Memory(WindowsAbi.SYSTEM_INFO_BYTES)) {
      info.clear();
      Kernel32.GetSystemInfo(info);
      WindowsAbi.SystemInfo si = WindowsAbi.systemInfo(info.getByteBuffer(0, WindowsAbi.SYSTEM_INFO_BYTES));
      this.pageSizeBytes = si.pageBytes();
      this.granularityBytes = si.granularityBytes();
    }
    this.userSid = currentUserSid();
    this.securityDescriptor = securityDescriptor(WindowsSecurity.ownerOnlySddl(userSid));
  }

  /**
   * {@inheritDoc} Claims the name: a section's size is fixed at creation, which happens in
   * {@link #truncate}. EEXIST when a section of that name exists now (or exists for
   * another user, whose DACL refuses us); {@link #truncate} fails with EEXIST too if one
   * appears in between. {@code mode} must grant nothing to group or others.
   */
  @Override
  public int createExclusive(Path shmDir, String fileName, int mode) {
    WindowsSecurity.requireOwnerOnlyMode(mode);
    String objectName = namespace.objectName(fileName);
    Pointer existing = Kernel32.OpenFileMappingW(WindowsAbi.FILE_MAP_READ, 0, new WString(objectName));
    if (existing != null) {
      Kernel32.CloseHandle(existing);
      throw new PlatformException("CreateFileMappingW", objectName, PlatformException.EEXIST,
          "a section of this name exists (Win32 error " + WindowsErrors.ERROR_ALREADY_EXISTS + ")");
    }
    int err = Native.getLastError();
    if (err == WindowsErrors.ERROR_ACCESS_DENIED) {
      throw new PlatformException("CreateFileMappingW", objectName, PlatformException.EEXIST,
          "a section of this name exists and belongs to another user (Win32 error " + err + ")");
    }
    if (err != WindowsErrors.ERROR_FILE_NOT_FOUND) {
      throw win32("OpenFileMappingW", objectName, err);
    }
    return sections.add(new Section(objectName, true, true, null));
  }

  /**
   * {@inheritDoc} OpenFileMappingW with read (and write) access. The security descriptor
   * of the section decides: another user's section fails with EACCES.
   */
  @Override
  public int openExisting(Path shmDir, String fileName, boolean readWrite) {
    String objectName = namespace.objectName(fileName);
    int access = readWrite ? WindowsAbi.FILE_MAP_READ | WindowsAbi.FILE_MAP_WRITE : WindowsAbi.FILE_MAP_READ;
    Pointer handle = Kernel32.OpenFileMappingW(access, 0, new WString(objectName));
    if (handle == null) {
      throw win32("OpenFileMappingW", objectName, Native.getLastError());
    }
    return sections.add(new Section(objectName, false, readWrite, handle));
  }

  /**
   * {@inheritDoc} Creates the section claimed by {@link #createExclusive}:
   * CreateFileMappingW(INVALID_HANDLE_VALUE, owner-only SECURITY_ATTRIBUTES,
   * PAGE_READWRITE | SEC_COMMIT, size, name). The whole size is committed now: when the
   * commit limit is reached this fails with ENOSPC. If the name was taken in the meantime
   * (ERROR_ALREADY_EXISTS: Windows then returns a handle to the other section, with its
   * size and security), that handle is closed and EEXIST thrown. A section's size cannot
   * change: asking again for its size does nothing, any other size fails with EINVAL.
   */
  @Override
  public void truncate(int fd, long sizeBytes, String name) {
    Section s = sections.get(fd, "CreateFileMappingW");
    synchronized (s) {
      if (!SizeOnce.needsSizing(s.handle == null ? 0 : sizeOf(s), sizeBytes, 1, "Windows", s.objectName)) {
        return;
      }
      if (!s.createdHere || s.handle != null) {
        throw new PlatformException("CreateFileMappingW", s.objectName, PlatformException.EINVAL,
            "only a section claimed by createExclusive can be sized");
      }
      try (Memory attributes = new Memory(WindowsAbi.SECURITY_ATTRIBUTES_BYTES)) {
        attributes.clear();
        attributes.setInt(0, WindowsAbi.SECURITY_ATTRIBUTES_BYTES);
        attributes.setPointer(WindowsAbi.SECURITY_ATTRIBUTES_DESCRIPTOR_OFFSET, securityDescriptor);
        attributes.setInt(WindowsAbi.SECURITY_ATTRIBUTES_INHERIT_OFFSET, 0);
        Pointer handle = Kernel32.CreateFileMappingW(INVALID_HANDLE_VALUE, attributes,
            WindowsAbi.PAGE_READWRITE | WindowsAbi.SEC_COMMIT, WindowsAbi.high(sizeBytes), WindowsAbi.low(sizeBytes),
            new WString(s.objectName));
        int err = Native.getLastError();
        if (handle == null) {
          throw win32("CreateFileMappingW", s.objectName, err);
        }
        if (err == WindowsErrors.ERROR_ALREADY_EXISTS) {
          Kernel32.CloseHandle(handle);
          throw win32("CreateFileMappingW", s.objectName, err);
        }
        s.handle = handle;
        s.sizeBytes = sizeBytes;
      }
    }
  }

  /**
   * {@inheritDoc} Nothing to reserve: SEC_COMMIT committed the whole section when it was
   * created. Checks that the range lies inside the section, which cannot grow.
   */
  @Override
  public void reserve(int fd, long offsetBytes, long lengthBytes, String name) {
    if (offsetBytes < 0 || lengthBytes < 0) {
      throw new IllegalArgumentException("offset and length must not be negative, were " + offsetBytes + " and "
          + lengthBytes);
    }
    if (lengthBytes == 0) {
      return;
    }
    Section s = sections.get(fd, "reserve");
    SizeOnce.requireWithin(offsetBytes, lengthBytes, sizeOf(s), "reserve", "Windows", s.objectName);
  }

  /**
   * {@inheritDoc} Windows cannot give pages of a section back while it lives (MEM_RESET
   * leaves them undefined, not zero): the part of the range inside the section is zeroed
   * through a view (one memset).
   */
  @Override
  public void punchHole(int fd, long offsetBytes, long lengthBytes, String name) {
    PlatformArgs.requireNonNegative("offsetBytes", offsetBytes);
    PlatformArgs.requireNonNegative("lengthBytes", lengthBytes);
    if (lengthBytes == 0) {
      return;
    }
    PlatformArgs.zeroThroughMapping(this, fd, offsetBytes, lengthBytes, sizeOf(sections.get(fd, "punchHole")),
        pageSizeBytes, name);
  }

  /**
   * {@inheritDoc} MapViewOfFile. Views must start at a multiple of the allocation
   * granularity (64 KiB), so the view starts up to that much earlier and the mapping
   * handed out begins inside it ({@link WindowsAbi#view}); {@code offsetBytes} need only be
   * a multiple of the page size, as everywhere. ENOMEM when the address space is full.
   */
  @Override
  public Mapping map(int fd, long offsetBytes, long lengthBytes, boolean writable, String name) {
    PlatformArgs.checkMapRange(offsetBytes, lengthBytes, pageSizeBytes);
    Section s = sections.get(fd, "MapViewOfFile");
    Pointer handle = handleOf(s, "MapViewOfFile");
    if (writable && !s.writable) {
      throw new PlatformException("MapViewOfFile", s.objectName, PlatformException.EACCES,
          "the section was opened read-only");
    }
    WindowsAbi.View v = WindowsAbi.view(offsetBytes, lengthBytes, granularityBytes);
    int access = writable ? WindowsAbi.FILE_MAP_READ | WindowsAbi.FILE_MAP_WRITE : WindowsAbi.FILE_MAP_READ;
    Pointer view = Kernel32.MapViewOfFile(handle, access, WindowsAbi.high(v.viewOffsetBytes()),
        WindowsAbi.low(v.viewOffsetBytes()), v.viewLengthBytes());
    if (view == null) {
      throw win32("MapViewOfFile", s.objectName, Native.getLastError());
    }
    return new LinuxMapping(view.share(v.deltaBytes()), offsetBytes, lengthBytes, writable, name);
  }

  /**
   * {@inheritDoc} UnmapViewOfFile on the start of the view, which lies
   * {@code fileOffsetBytes % granularity} bytes before the mapping.
   *
   * @throws IllegalArgumentException for a mapping not made by {@link #map}
   */
  @Override
  public void unmap(Mapping mapping) {
    if (!(mapping instanceof LinuxMapping)) {
      throw new IllegalArgumentException("not a mapping made by WindowsPlatform: " + mapping);
    }
    LinuxMapping m = (LinuxMapping) mapping;
    if (!m.markUnmapped()) {
      return;
    }
    long delta = m.fileOffsetBytes() % granularityBytes;
    Pointer view = new Pointer(Pointer.nativeValue(m.base()) - delta);
    if (Kernel32.UnmapViewOfFile(view) == 0) {
      throw win32("UnmapViewOfFile", m.name(), Native.getLastError());
    }
  }

  /**
   * {@inheritDoc} Windows has no unlink: a section lives while any process holds a handle
   * to it or a view of it. This closes every handle this process still has for the name
   * (usually none: the caller closed its descriptor first); the section disappears when
   * the last holder in any process lets go. Never fails with ENOENT.
   */
  @Override
  public void unlink(Path shmDir, String fileName) {
    String objectName = namespace.objectName(fileName);
    for (int fd : sections.descriptors()) {
      Section s;
      try {
        s = sections.get(fd, "unlink");
      } catch (PlatformException closedMeanwhile) {
        continue;
      }
      if (s.objectName.equals(objectName)) {
        close(fd);
      }
    }
  }

  /** {@inheritDoc} CloseHandle, after dropping the descriptor's in-process locks. */
  @Override
  public void close(int fd) {
    Section s = sections.remove(fd);
    if (s == null) {
      throw new PlatformException("CloseHandle", "fd " + fd, DescriptorTable.EBADF,
          "Bad file descriptor (not open in this platform)");
    }
    locks.releaseAll(fd);
    Pointer handle;
    synchronized (s) {
      handle = s.handle;
      s.handle = null;
    }
    if (handle != null && Kernel32.CloseHandle(handle) == 0) {
      throw win32("CloseHandle", s.objectName, Native.getLastError());
    }
  }

  /**
   * {@inheritDoc} Size: as created, or for an opened section the size of a whole view
   * (VirtualQuery; page-rounded). Mode: {@code 0100600} for a section created here (its
   * DACL grants the current user only), 0 for an opened one (its DACL is not inspected).
   * Owner: -1 (Windows has SIDs, not uids). Allocated: the size (SEC_COMMIT).
   */
  @Override
  public FileStat stat(int fd, String name) {
    Section s = sections.get(fd, "stat");
    long size = s.handle == null ? 0 : sizeOf(s);
    return new FileStat(size, s.createdHere ? OWNER_ONLY_MODE : 0, -1, size);
  }

  /**
   * {@inheritDoc} Sections are backed by the commit limit (RAM plus paging files), not a
   * file system: {@code dir} is ignored; total is the commit limit and free/available the
   * commit still available (GlobalMemoryStatusEx).
   */
  @Override
  public FsStat statFs(Path dir) {
    try (Memory status = new Memory(WindowsAbi.MEMORYSTATUSEX_BYTES)) {
      status.clear();
      status.setInt(0, WindowsAbi.MEMORYSTATUSEX_BYTES);
      if (Kernel32.GlobalMemoryStatusEx(status) == 0) {
        throw win32("GlobalMemoryStatusEx", "memory", Native.getLastError());
      }
      return WindowsAbi.commitFacts(status.getByteBuffer(0, WindowsAbi.MEMORYSTATUSEX_BYTES));
    }
  }

  /** {@inheritDoc} An in-process lock ({@link ProcessLocalLocks}); other processes cannot lock sections. */
  @Override
  public boolean tryLock(int fd, long offsetBytes, long lengthBytes, boolean exclusive, String name) {
    return locks.tryLock(sections.get(fd, "lock").objectName, fd, offsetBytes, lengthBytes, exclusive);
  }

  @Override
  public void unlock(int fd, long offsetBytes, long lengthBytes, String name) {
    locks.unlock(sections.get(fd, "unlock").objectName, fd, offsetBytes, lengthBytes);
  }

  /**
   * Not available on Windows: sections have no byte-range locks (LockFileEx needs a file
   * handle), so another process's lock cannot be seen.
   *
   * @throws PlatformException always, with EOPNOTSUPP
   */
  @Override
  public boolean isWriteLockedByOthers(int fd, long offsetBytes, long lengthBytes, String name) {
    throw new PlatformException("LockFileEx", name, PlatformException.EOPNOTSUPP, "Windows sections have no"
        + " byte-range locks (LockFileEx needs a file handle), so another process's lock cannot be seen");
  }

  /** {@inheritDoc} dwPageSize of GetSystemInfo (4096); views are aligned to dwAllocationGranularity internally. */
  @Override
  public long pageSizeBytes() {
    return pageSizeBytes;
  }

  @Override
  public long currentPid() {
    return Integer.toUnsignedLong(Kernel32.GetCurrentProcessId());
  }

  /**
   * {@inheritDoc} On Windows the value is the creation time (FILETIME, 100 ns units since
   * 1601) from GetProcessTimes, not clock ticks since boot; it is only compared for
   * equality. -1 when no such process exists or it has exited (its object may outlive it
   * while handles remain). A process that exists but refuses
   * PROCESS_QUERY_LIMITED_INFORMATION (another user's, or protected) fails with EACCES
   * rather than guess ({@link WindowsAbi#startTimeOrAbsent}).
   */
  @Override
  public long processStartTicks(long pid) {
    if (pid <= 0 || pid > 0xFFFFFFFFL) {
      return -1;
    }
    Pointer process = Kernel32.OpenProcess(WindowsAbi.PROCESS_QUERY_LIMITED_INFORMATION | WindowsAbi.SYNCHRONIZE,
        0, (int) pid);
    if (process == null) {
      return WindowsAbi.startTimeOrAbsent(pid, Native.getLastError(), false, 0);
    }
    try {
      int wait = Kernel32.WaitForSingleObject(process, 0);
      if (wait != WindowsAbi.WAIT_OBJECT_0 && wait != WindowsAbi.WAIT_TIMEOUT) {
        throw win32("WaitForSingleObject", "pid " + pid, Native.getLastError());
      }
      long[] creation = new long[1];
      long[] exit = new long[1];
      long[] kernel = new long[1];
      long[] user = new long[1];
      if (Kernel32.GetProcessTimes(process, creation, exit, kernel, user) == 0) {
        throw win32("GetProcessTimes", "pid " + pid, Native.getLastError());
      }
      return WindowsAbi.startTimeOrAbsent(pid, 0, wait == WindowsAbi.WAIT_OBJECT_0, creation[0]);
    } finally {
      Kernel32.CloseHandle(process);
    }
  }

  /**
   * {@inheritDoc} From NtQuerySystemInformation(SystemTimeOfDayInformation): BootTime minus
   * BootTimeBias ({@link WindowsAbi#bootId}), the same in every process for the whole
   * boot. Not now minus GetTickCount64: two clocks read one after the other differ between
   * processes (by up to a second) and move with clock changes and sleep, which would make
   * a live manager look like one of an earlier boot.
   */
  @Override
  public byte[] bootId() {
    try (Memory info = new Memory(WindowsAbi.TIME_OF_DAY_BYTES); Memory returned = new Memory(Integer.BYTES)) {
      info.clear();
      int status = Ntdll.NtQuerySystemInformation(WindowsAbi.SYSTEM_TIME_OF_DAY_INFORMATION, info,
          WindowsAbi.TIME_OF_DAY_BYTES, returned);
      if (status != 0) {
        throw new PlatformException("NtQuerySystemInformation", "SystemTimeOfDayInformation", PlatformException.EINVAL,
            "NTSTATUS 0x" + Integer.toHexString(status));
      }
      return WindowsAbi.bootId(info.getByteBuffer(0, WindowsAbi.TIME_OF_DAY_BYTES));
    }
  }

  @Override
  public OsFamily family() {
    return OsFamily.WINDOWS;
  }

  @Override
  public Set<PlatformFeature> features() {
    return OsFamily.WINDOWS.features();
  }

  @Override
  public String toString() {
    return "WindowsPlatform[" + namespace.prefix() + ", page " + pageSizeBytes + " bytes, views aligned to "
        + granularityBytes + ", sections for " + userSid + "]";
  }

  private static Pointer handleOf(Section s, String call) {
    synchronized (s) {
      if (s.handle == null) {
        throw new PlatformException(call, s.objectName, PlatformException.EINVAL,
            "the section is not created yet: truncate sizes (creates) it first");
      }
      return s.handle;
    }
  }

  /** The size of a section: as created, or measured once with a whole view and VirtualQuery. */
  private long sizeOf(Section s) {
    synchronized (s) {
      if (s.sizeBytes > 0) {
        return s.sizeBytes;
      }
      Pointer view = Kernel32.MapViewOfFile(handleOf(s, "MapViewOfFile"), WindowsAbi.FILE_MAP_READ, 0, 0, 0);
      if (view == null) {
        throw win32("MapViewOfFile", s.objectName, Native.getLastError());
      }
      try (Memory info = new Memory(WindowsAbi.MEMORY_BASIC_INFORMATION_BYTES)) {
        info.clear();
        if (Kernel32.VirtualQuery(view, info, WindowsAbi.MEMORY_BASIC_INFORMATION_BYTES) == 0) {
          throw win32("VirtualQuery", s.objectName, Native.getLastError());
        }
        s.sizeBytes = info.getLong(WindowsAbi.MEMORY_BASIC_INFORMATION_REGION_SIZE_OFFSET);
        return s.sizeBytes;
      } finally {
        Kernel32.UnmapViewOfFile(view);
      }
    }
  }

  /** The string SID of the user this process runs as (GetTokenInformation(TokenUser)). */
  private static String currentUserSid() {
    try (Memory tokenOut = new Memory(Native.POINTER_SIZE)) {
      tokenOut.clear();
      if (Advapi32.OpenProcessToken(Kernel32.GetCurrentProcess(), WindowsAbi.TOKEN_QUERY, tokenOut) == 0) {
        throw win32("OpenProcessToken", "current process", Native.getLastError());
      }
      Pointer token = tokenOut.getPointer(0);
      try (Memory needed = new Memory(Integer.BYTES)) {
        needed.setInt(0, 0);
        Advapi32.GetTokenInformation(token, WindowsAbi.TOKEN_USER_CLASS, null, 0, needed);
        int err = Native.getLastError();
        int size = needed.getInt(0);
        if (size <= 0) {
          throw win32("GetTokenInformation", "TokenUser", err);
        }
        try (Memory tokenUser = new Memory(size)) {
          if (Advapi32.GetTokenInformation(token, WindowsAbi.TOKEN_USER_CLASS, tokenUser, size, needed) == 0) {
            throw win32("GetTokenInformation", "TokenUser", Native.getLastError());
          }
          Pointer sid = tokenUser.getPointer(0); // TOKEN_USER.User.Sid
          try (Memory text = new Memory(Native.POINTER_SIZE)) {
            text.clear();
            if (Advapi32.ConvertSidToStringSidW(sid, text) == 0) {
              throw win32("ConvertSidToStringSidW", "TokenUser", Native.getLastError());
            }
            Pointer wide = text.getPointer(0);
            try {
              return wide.getWideString(0);
            } finally {
              Kernel32.LocalFree(wide);
            }
          }
        }
      } finally {
        Kernel32.CloseHandle(token);
      }
    }
  }

  /** A self-relative security descriptor from SDDL; LocalAlloc'd, kept for the process's life. */
  private static Pointer securityDescriptor(String sddl) {
    try (Memory out = new Memory(Native.POINTER_SIZE)) {
      out.clear();
      if (Advapi32.ConvertStringSecurityDescriptorToSecurityDescriptorW(new WString(sddl), WindowsAbi.SDDL_REVISION_1,
          out, null) == 0) {
        throw win32("ConvertStringSecurityDescriptorToSecurityDescriptorW", sddl, Native.getLastError());
      }
      return out.getPointer(0);
    }
  }

  private static PlatformException win32(String call, String name, int code) {
    return WindowsErrors.error(call, name, code, systemText(code));
  }

  /** FormatMessageW's text for a Win32 error, or null. */
  private static String systemText(int code) {
    char[] buffer = new char[512];
    int n = Kernel32.FormatMessageW(WindowsAbi.FORMAT_MESSAGE_FROM_SYSTEM | WindowsAbi.FORMAT_MESSAGE_IGNORE_INSERTS,
        null, code, 0, buffer, buffer.length, null);
    return n > 0 ? new String(buffer, 0, n) : null;
  }

  /** kernel32 by JNA direct mapping (x64/ARM64: one calling convention). BOOL is int. */
  private static final class Kernel32 {
    static {
      Native.register(Kernel32.class, NativeLibrary.getInstance("kernel32"));
    }

    private Kernel32() {}

    static native Pointer CreateFileMappingW(Pointer file, Pointer attributes, int protect, int maxSizeHigh,
        int maxSizeLow, WString name);

    static native Pointer OpenFileMappingW(int desiredAccess, int inheritHandle, WString name);

    static native Pointer MapViewOfFile(Pointer mapping, int desiredAccess, int offsetHigh, int offsetLow,
        long bytesToMap);

    static native int UnmapViewOfFile(Pointer baseAddress);

    static native int CloseHandle(Pointer handle);

    static native long VirtualQuery(Pointer address, Pointer buffer, long length);

    static native void GetSystemInfo(Pointer systemInfo);

    static native int GlobalMemoryStatusEx(Pointer buffer);

    static native int GetCurrentProcessId();

    static native Pointer GetCurrentProcess();

    static native Pointer OpenProcess(int desiredAccess, int inheritHandle, int processId);

    static native int WaitForSingleObject(Pointer handle, int milliseconds);

    /** FILETIMEs are two little-endian DWORDs: a long[1] receives each as one 64-bit value. */
    static native int GetProcessTimes(Pointer process, long[] creation, long[] exit, long[] kernel, long[] user);

    static native Pointer LocalFree(Pointer memory);

    static native int FormatMessageW(int flags, Pointer source, int messageId, int languageId, char[] buffer,
        int size, Pointer arguments);
  }

  /** advapi32 by JNA direct mapping. */
  private static final class Advapi32 {
    static {
      Native.register(Advapi32.class, NativeLibrary.getInstance("advapi32"));
    }

    private Advapi32() {}

    static native int OpenProcessToken(Pointer process, int desiredAccess, Pointer tokenOut);

    static native int GetTokenInformation(Pointer token, int informationClass, Pointer information, int length,
        Pointer returnLength);

    static native int ConvertSidToStringSidW(Pointer sid, Pointer stringSidOut);

    static native int ConvertStringSecurityDescriptorToSecurityDescriptorW(WString sddl, int revision,
        Pointer descriptorOut, Pointer descriptorSizeOut);
  }

  /** ntdll by JNA direct mapping. */
  private static final class Ntdll {
    static {
      Native.register(Ntdll.class, NativeLibrary.getInstance("ntdll"));
    }

    private Ntdll() {}

    static native int NtQuerySystemInformation(int informationClass, Pointer information, int length,
        Pointer returnLength);
  }
}

"""How a segment is opened and mapped: by path, by POSIX shm name, or as a
named Windows section.

The manager (docs/PLATFORMS.md) keeps segments differently per OS:

========  ===================================  ==============================
OS        a segment is                         this module opens it with
========  ===================================  ==============================
Linux     a file in the shm dir (``/dev/shm``)  :class:`PathOpener`:
                                               ``os.open(path, O_NOFOLLOW|
                                               O_CLOEXEC|...)``
macOS     a POSIX shm object, no file: the     :class:`PosixShmOpener`:
          descriptor's ``path`` does not       ``_posixshmem.shm_open(
          exist, ``segment`` ("/snk...") is    segment, flags, 0)``
          its name
Windows   a named pagefile-backed section      :class:`WindowsSectionOpener`:
          (``Local\\snk...``), no file          ``mmap.mmap(-1, length,
                                               tagname=name, ...)``
========  ===================================  ==============================

**Selection** (:func:`resolve_opener`): ``attach(..., opener=...)`` (an
opener, or ``"path"`` / ``"name"``) wins; else the environment variable
``SNAKEPIT_SHM_OPEN_BY`` (``path`` or ``name``, read at each attach); else
the platform (:func:`platform_opener`: ``darwin`` → by name, ``win32`` →
section, anything else → by path). ``name`` means the platform's by-name
opener: :class:`WindowsSectionOpener` on Windows,
:class:`PosixShmOpener` elsewhere. On Linux ``shm_open("/snkXYZ")`` opens
``/dev/shm/snkXYZ`` (glibc), so the by-name path is exercised by the tests
on Linux, against segments in ``/dev/shm`` itself.

**Identity.** The segment cache (:mod:`snakepit_shm.segments`) keys entries
by an identity, checked at every attach (:meth:`SegmentOpener.probe`) and
when a descriptor is opened again (:meth:`SegmentOpener.reopen`), so that a
removed segment is reported stale and a segment replaced under the same
name gets its own mapping:

* ``("inode", st_dev, st_ino)``: by path (``lstat``), and by name where
  ``fstat`` of a shm descriptor tells the inode (Linux: it is a tmpfs
  file).
* ``("header", bytes)``: the immutable segment-header fields
  ``created_ms`` .. ``boot_id`` (bytes 32..80), read through a one-page
  read-only mapping. Used by name on macOS, whose ``fstat`` of a shm
  descriptor fills in only mode, owner and size (xnu ``pshm_stat``: device
  and inode are 0, and the mode has no file type bits). Two segments of one
  manager never share ``created_ms`` and a name; another manager differs in
  ``instance_id`` or boot id.
* ``("section", name)``: Windows. A section lives while any handle or view
  of it does (no unlink), so while this process maps a section its name
  cannot name another one: the name is the identity.

**Never removes anything**: no ``unlink``, no ``shm_unlink``, no
``multiprocessing.shared_memory`` (whose resource tracker would unlink
segments it only attached to, cpython#82300). ``_posixshmem`` is the
private stdlib module behind ``shared_memory``; it is used here for its
``shm_open`` alone, which registers nothing with the resource tracker.

**Write locks** (docs/SYNC.md) are OFD locks on the segment's descriptor.
They work with :class:`PathOpener` and, on Linux, with
:class:`PosixShmOpener` (the descriptor is a tmpfs file). macOS refuses
``fcntl`` locks on shm descriptors (xnu: EBADF) and Windows sections have
no file locks: there :attr:`SegmentOpener.locks_unsupported` says why, and
``write_lock``/``write_consistent``/``read_consistent`` raise
:class:`~snakepit_shm.errors.LockUnsupportedError`.
"""

from __future__ import annotations

import abc
import errno
import mmap
import os
import stat
import sys
from typing import Any, NamedTuple, Optional, Tuple, Union

from .checks import STALE_REMEDIATION
from .descriptor import Descriptor
from .errors import (InvalidRegionError, InvalidRequestError, PlatformError,
                     ShmError, StaleDescriptorError)
from .geometry import PAGE_GRANULE_BYTES, MapGeometry, file_geometry
from .layout import SEG_BOOT_ID_OFFSET, SEG_CREATED_MS_OFFSET, BOOT_ID_BYTES
from .oserrors import os_error

OPEN_BY_ENV = "SNAKEPIT_SHM_OPEN_BY"
"""Environment variable choosing how segments are opened: ``path`` or
``name`` (unset or empty: by platform)."""

OPEN_BY_PATH = "path"
OPEN_BY_NAME = "name"
OPEN_BY_VALUES = (OPEN_BY_PATH, OPEN_BY_NAME)

WINDOWS_DEFAULT_NAMESPACE = "Local"
"""Namespace a ``/snk...`` segment name gets on Windows (the manager's
default, docs/PLATFORMS.md)."""

IDENTITY_HEADER_START = SEG_CREATED_MS_OFFSET
IDENTITY_HEADER_END = SEG_BOOT_ID_OFFSET + BOOT_ID_BYTES
"""Segment-header bytes 32..80 (``created_ms``, ``manager_pid``,
``manager_start_ticks``, ``instance_id``, ``boot_id``): written once when
the segment is made, never changed; the identity where the OS gives no
inode."""

MACOS_LOCKS_UNSUPPORTED = (
    "region write locks are not supported on macOS: the kernel refuses "
    "fcntl locks on POSIX shared-memory descriptors (EBADF), so no lock "
    "can be shared with the manager or other workers")
WINDOWS_LOCKS_UNSUPPORTED = (
    "region write locks are not supported on Windows: a pagefile-backed "
    "section has no file locks (no fcntl, and LockFileEx needs a file), "
    "so no lock can be shared with the manager or other workers")

Identity = Tuple[Any, ...]
"""What makes two opens the same segment (see the module doc)."""


def _mmap_takes_trackfd() -> bool:
    """True when ``mmap.mmap`` accepts ``trackfd=False`` (Python 3.13+)."""
    try:
        mmap.mmap(-1, mmap.PAGESIZE, trackfd=False).close()  # type: ignore
    except TypeError:
        return False
    return True


MMAP_TRACKFD = _mmap_takes_trackfd()
"""True: whole-segment mappings are made without a duplicate descriptor
and each entry keeps its own. False (before 3.13): each mapping holds a
duplicate, and an entry closes its own descriptor right after the first
mapping (unless its opener :attr:`~SegmentOpener.keeps_handle`)."""


class Opened(NamedTuple):
    """A segment just opened by a :class:`SegmentOpener`."""

    handle: Any
    """What the opener maps and closes: a file descriptor (int) for the
    POSIX openers, a :class:`Section` on Windows."""
    identity: Identity
    size: int
    """Bytes in the segment (file size, shm object size, or the segment
    header's ``segment_bytes`` on Windows)."""
    geometry: MapGeometry


class SegmentOpener(abc.ABC):
    """One way to open and map segments; stateless, shared by entries.

    Errors are typed (:mod:`snakepit_shm.errors`): a segment that does not
    exist is :class:`~snakepit_shm.errors.StaleDescriptorError`, one too
    small for the region or not a plain object
    :class:`~snakepit_shm.errors.InvalidRegionError`, a refused open
    :class:`~snakepit_shm.errors.AccessDeniedError`.
    """

    open_by: str = OPEN_BY_PATH
    """``"path"`` or ``"name"`` (for messages and ``SegmentInfo``)."""

    locks_unsupported: Optional[str] = None
    """None when region write locks (OFD locks on the handle) work;
    otherwise why not, for :class:`~snakepit_shm.errors.LockUnsupportedError`."""

    keeps_handle: bool = False
    """True: the cache entry keeps its handle while mapped (Windows); False:
    before Python 3.13 it closes its descriptor once the whole segment is
    mapped (the mapping holds a duplicate) and reopens when needed."""

    @abc.abstractmethod
    def where(self, desc: Descriptor) -> str:
        """What is opened, for messages: the path or the name."""

    @abc.abstractmethod
    def probe(self, desc: Descriptor) -> Tuple[Identity, int]:
        """The identity and size of the segment ``desc`` names now, checked
        to hold the region (every attach; opens nothing that stays open)."""

    @abc.abstractmethod
    def open(self, desc: Descriptor) -> Opened:
        """Open the segment in the descriptor's access mode."""

    @abc.abstractmethod
    def reopen(self, desc: Descriptor, identity: Identity) -> Any:
        """Open the segment again and return the handle, after checking it
        is still ``identity`` (else ``StaleDescriptorError``)."""

    @abc.abstractmethod
    def map(self, handle: Any, desc: Descriptor, length: int, offset: int,
            whole: bool) -> mmap.mmap:
        """Map ``length`` bytes at ``offset`` shared, read-only for a
        read_only descriptor. ``whole`` marks the entry's one mapping of
        the segment (made without a duplicate descriptor on 3.13+).

        Raises:
            OSError: as ``mmap`` raises it (the caller types it; ENOMEM
                means a smaller mapping may still fit).
        """

    @abc.abstractmethod
    def close(self, handle: Any) -> None:
        """Close a handle :meth:`open` or :meth:`reopen` returned."""

    def read_head(self, handle: Any, desc: Descriptor, count: int,
                  geometry: MapGeometry) -> bytes:
        """The first ``count`` bytes of the segment without the entry's
        mapping: through a mapping of the first granule (openers whose
        objects cannot be read with ``pread``).

        Raises:
            ShmError: the mapping failed (typed).
        """
        length = geometry.map_length(0, min(count, geometry.file_bytes))
        try:
            mapping = self.map(handle, desc, length, 0, whole=False)
        except OSError as exc:
            raise os_error(exc, desc, f"mmap {self.where(desc)}") from exc
        with mapping:
            return bytes(mapping[:count])


def _access(desc: Descriptor) -> int:
    return mmap.ACCESS_READ if desc.read_only else mmap.ACCESS_WRITE


def _mmap_fd(fd: int, desc: Descriptor, length: int, offset: int,
             whole: bool) -> mmap.mmap:
    """``mmap`` of a descriptor; the whole-segment mapping without a
    duplicate descriptor where Python allows it (3.13+)."""
    if whole and MMAP_TRACKFD:
        return mmap.mmap(fd, length, access=_access(desc), offset=offset,
                         trackfd=False)  # type: ignore[call-arg]
    return mmap.mmap(fd, length, access=_access(desc), offset=offset)


def check_holds_region(size: int, desc: Descriptor, where: str) -> None:
    """Raise ``InvalidRegionError`` when a segment of ``size`` bytes ends
    before the region does."""
    end = desc.offset + desc.size
    if size < end:
        raise InvalidRegionError(
            f"{desc.label()}: region ends at byte {end} but the segment "
            f"{where} has only {size} bytes",
            remediation="the descriptor does not belong to this segment; "
                        "use it exactly as the manager returned it")


def _stale(desc: Descriptor, what: str) -> StaleDescriptorError:
    return StaleDescriptorError(
        f"{desc.label()}: {what} was removed or replaced since this process "
        f"mapped it", remediation=STALE_REMEDIATION)


class _FdOpener(SegmentOpener):
    """An opener whose handles are file descriptors: ``mmap`` of the fd,
    ``os.close``, and the header read with ``pread``."""

    def map(self, handle: Any, desc: Descriptor, length: int, offset: int,
            whole: bool) -> mmap.mmap:
        return _mmap_fd(handle, desc, length, offset, whole)

    def close(self, handle: Any) -> None:
        os.close(handle)

    def read_head(self, handle: Any, desc: Descriptor, count: int,
                  geometry: MapGeometry) -> bytes:
        """``pread`` (which hugetlbfs supports too)."""
        try:
            return os.pread(handle, count, 0)
        except OSError as exc:
            raise os_error(exc, desc, "read") from exc


class PathOpener(_FdOpener):
    """Linux (the default there): the segment is the file at the
    descriptor's ``path``; opened ``O_NOFOLLOW|O_CLOEXEC`` (``O_RDONLY``
    for read_only, ``O_RDWR`` otherwise), identity ``(st_dev, st_ino)``
    from ``lstat`` at every attach and ``fstat`` after each open. A
    symbolic link is refused; hugetlbfs files get their huge-page geometry
    (:mod:`snakepit_shm.geometry`)."""

    open_by = OPEN_BY_PATH

    def where(self, desc: Descriptor) -> str:
        return desc.path

    def probe(self, desc: Descriptor) -> Tuple[Identity, int]:
        try:
            info = os.stat(desc.path, follow_symlinks=False)
        except OSError as exc:
            raise os_error(exc, desc, "stat") from exc
        if stat.S_ISLNK(info.st_mode):
            raise InvalidRegionError(
                f"{desc.label()}: path is a symbolic link, refused "
                f"(O_NOFOLLOW)",
                remediation="use the descriptor's path unchanged")
        _check_regular_file(info, desc)
        return ("inode", info.st_dev, info.st_ino), info.st_size

    def open(self, desc: Descriptor) -> Opened:
        fd = self._open_fd(desc)
        try:
            try:
                info = os.fstat(fd)
                _check_regular_file(info, desc)
                geometry = file_geometry(fd, info.st_size)
            except OSError as exc:
                raise os_error(exc, desc, "fstat") from exc
        except BaseException:
            os.close(fd)
            raise
        return Opened(fd, ("inode", info.st_dev, info.st_ino), info.st_size,
                      geometry)

    def reopen(self, desc: Descriptor, identity: Identity) -> Any:
        fd = self._open_fd(desc)
        try:
            info = os.fstat(fd)
        except OSError as exc:
            os.close(fd)
            raise os_error(exc, desc, "fstat") from exc
        if ("inode", info.st_dev, info.st_ino) != identity:
            os.close(fd)
            raise _stale(desc, "the segment file at this path")
        return fd

    @staticmethod
    def _open_fd(desc: Descriptor) -> int:
        flags = os.O_RDONLY if desc.read_only else os.O_RDWR
        flags |= getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
        try:
            return os.open(desc.path, flags)
        except OSError as exc:
            raise os_error(exc, desc, "open") from exc


def _check_regular_file(info: os.stat_result, desc: Descriptor) -> None:
    if not stat.S_ISREG(info.st_mode):
        raise InvalidRegionError(
            f"{desc.label()}: path is not a regular file",
            remediation="use the descriptor's path unchanged")
    end = desc.offset + desc.size
    if info.st_size < end:
        raise InvalidRegionError(
            f"{desc.label()}: region ends at byte {end} but the file has "
            f"only {info.st_size} bytes",
            remediation="the descriptor does not belong to this file; "
                        "use it exactly as the manager returned it")


def segment_base_name(desc: Descriptor) -> str:
    """The segment's bare name (``snk...``): the descriptor's ``segment``
    without its leading ``/`` or its ``Namespace\\`` prefix, or the file
    name of ``path`` when ``segment`` is absent."""
    segment = desc.segment
    if segment is None:
        return os.path.basename(desc.path)
    return segment.rsplit("\\", 1)[-1].lstrip("/")


def posix_shm_name(desc: Descriptor) -> str:
    """The POSIX shm name to ``shm_open``: ``"/" + base name``
    (``segment`` as it is when it already has that form)."""
    return "/" + segment_base_name(desc)


def windows_section_name(desc: Descriptor) -> str:
    """The section name to map on Windows: a ``segment`` carrying a
    namespace (``Local\\snk...``, ``Global\\snk...``) as it is; a POSIX
    form ``/snk...`` (or no ``segment``) becomes ``Local\\snk...``, the
    manager's default namespace."""
    segment = desc.segment
    if segment is not None and "\\" in segment:
        return segment
    return f"{WINDOWS_DEFAULT_NAMESPACE}\\{segment_base_name(desc)}"


class PosixShmOpener(_FdOpener):
    """macOS (the default there), or any POSIX system when asked for
    (``SNAKEPIT_SHM_OPEN_BY=name``): ``_posixshmem.shm_open(name, flags,
    0)`` with the name :func:`posix_shm_name` gives, ``O_RDONLY`` or
    ``O_RDWR`` and nothing else (never ``O_CREAT``: a missing segment is
    ENOENT, i.e. stale, and nothing is ever created), then ``fstat`` and
    ``mmap`` as for a file.

    Args:
        system: the ``sys.platform`` whose rules apply (default: this
            one). ``"darwin"`` means: identity from the segment header
            (the kernel reports no inode), the header read through a
            mapping (shm descriptors have no ``read``), page geometry, no
            write locks. Any other value: identity ``(st_dev, st_ino)``
            when ``fstat`` reports an inode, ``pread``, the file system's
            geometry, OFD write locks on Linux. Tests on Linux pass
            ``"darwin"`` to run the macOS rules against ``/dev/shm``.
    """

    open_by = OPEN_BY_NAME

    def __init__(self, system: Optional[str] = None) -> None:
        self.system = sys.platform if system is None else system
        self._darwin = self.system == "darwin"
        self.locks_unsupported = (
            MACOS_LOCKS_UNSUPPORTED if self._darwin
            else None if self.system.startswith("linux")
            else f"region write locks (OFD locks) are Linux-only; this is "
                 f"{self.system}")

    def __repr__(self) -> str:
        return f"PosixShmOpener(system={self.system!r})"

    def where(self, desc: Descriptor) -> str:
        return f"{posix_shm_name(desc)} (POSIX shm, opened by name)"

    def probe(self, desc: Descriptor) -> Tuple[Identity, int]:
        fd = self._open_fd(desc)
        try:
            info = self._fstat(fd, desc)
            return self._identity(fd, info, desc), info.st_size
        finally:
            os.close(fd)

    def open(self, desc: Descriptor) -> Opened:
        fd = self._open_fd(desc)
        try:
            info = self._fstat(fd, desc)
            identity = self._identity(fd, info, desc)
            if self._darwin or not self.system.startswith("linux"):
                geometry = MapGeometry(PAGE_GRANULE_BYTES, info.st_size)
            else:
                try:
                    geometry = file_geometry(fd, info.st_size)
                except OSError as exc:
                    raise os_error(exc, desc, "fstatvfs") from exc
        except BaseException:
            os.close(fd)
            raise
        return Opened(fd, identity, info.st_size, geometry)

    def reopen(self, desc: Descriptor, identity: Identity) -> Any:
        fd = self._open_fd(desc)
        try:
            info = self._fstat(fd, desc)
            if self._identity(fd, info, desc) != identity:
                raise _stale(desc, f"the segment {posix_shm_name(desc)}")
        except BaseException:
            os.close(fd)
            raise
        return fd

    def read_head(self, handle: Any, desc: Descriptor, count: int,
                  geometry: MapGeometry) -> bytes:
        if self._darwin:
            # xnu cannot pread a shm object: read through a mapping
            return SegmentOpener.read_head(self, handle, desc, count,
                                           geometry)
        return super().read_head(handle, desc, count, geometry)

    def _open_fd(self, desc: Descriptor) -> int:
        name = posix_shm_name(desc)
        try:
            import _posixshmem
        except ImportError:
            raise PlatformError(
                f"{desc.label()}: cannot open segment {name} by name: this "
                f"Python has no _posixshmem module (POSIX shared memory)",
                remediation="use a CPython 3.8+ build for a POSIX system, "
                            f"or {OPEN_BY_ENV}=path where segments are "
                            f"files (Linux)") from None
        flags = os.O_RDONLY if desc.read_only else os.O_RDWR
        try:
            return int(_posixshmem.shm_open(name, flags, 0))
        except OSError as exc:
            raise _by_name_error(exc, desc, "shm_open", name) from exc

    def _fstat(self, fd: int, desc: Descriptor) -> os.stat_result:
        try:
            info = os.fstat(fd)
        except OSError as exc:
            raise os_error(exc, desc, "fstat") from exc
        file_type = stat.S_IFMT(info.st_mode)
        if file_type and not stat.S_ISREG(info.st_mode):
            raise InvalidRegionError(
                f"{desc.label()}: {posix_shm_name(desc)} is not a shared "
                f"memory object (not a regular file)",
                remediation="use the descriptor's segment name unchanged")
        check_holds_region(info.st_size, desc, posix_shm_name(desc))
        return info

    def _identity(self, fd: int, info: os.stat_result,
                  desc: Descriptor) -> Identity:
        if not self._darwin and info.st_ino != 0:
            return ("inode", info.st_dev, info.st_ino)
        try:
            with mmap.mmap(fd, IDENTITY_HEADER_END,
                           access=mmap.ACCESS_READ) as head:
                return ("header",
                        bytes(head[IDENTITY_HEADER_START:
                                   IDENTITY_HEADER_END]))
        except OSError as exc:
            raise os_error(exc, desc, f"mmap {posix_shm_name(desc)}") \
                from exc


def _by_name_error(exc: OSError, desc: Descriptor, operation: str,
                   name: str) -> ShmError:
    """``os_error`` with the name in the message; ENOENT is stale."""
    if exc.errno == errno.ENOENT:    # also Windows ERROR_FILE_NOT_FOUND
        return StaleDescriptorError(
            f"{desc.label()}: segment {name} does not exist (the region's "
            f"segment was released)",
            remediation="allocate or acquire a fresh descriptor",
            errno=exc.errno)
    return os_error(exc, desc, f"{operation} {name}")


class Section(NamedTuple):
    """An open Windows section: its handle (from ``OpenFileMapping``) and
    its name."""

    handle: int
    name: str


class WindowsSectionOpener(SegmentOpener):
    """Windows (the default there): the segment is a named pagefile-backed
    section (:func:`windows_section_name`, ``Local\\snk...`` by default).
    *Not run by this project's tests, which run on Linux only.*

    ``_winapi.OpenFileMapping`` (``FILE_MAP_READ``, or ``FILE_MAP_WRITE``
    for read_write) checks that the section exists (ERROR_FILE_NOT_FOUND
    is stale) and keeps it alive while the entry lives; the segment's size
    is the segment header's ``segment_bytes``, read through a mapping of
    its first bytes. Mappings are ``mmap.mmap(-1, length, tagname=name,
    access=..., offset=...)``: since this process holds a handle of the
    section, the name cannot resolve to a new, empty section (``mmap`` with
    a tagname would create one if none existed). There is no descriptor:
    no write locks (:attr:`locks_unsupported`), no ``pread``.
    """

    open_by = OPEN_BY_NAME
    locks_unsupported = WINDOWS_LOCKS_UNSUPPORTED
    keeps_handle = True

    def where(self, desc: Descriptor) -> str:
        return f"{windows_section_name(desc)} (Windows section)"

    def probe(self, desc: Descriptor) -> Tuple[Identity, int]:
        section = self._open_section(desc)
        try:
            return ("section", section.name), self._size(section, desc)
        finally:
            self.close(section)

    def open(self, desc: Descriptor) -> Opened:
        section = self._open_section(desc)
        try:
            size = self._size(section, desc)
        except BaseException:
            self.close(section)
            raise
        return Opened(section, ("section", section.name), size,
                      MapGeometry(PAGE_GRANULE_BYTES, size))

    def reopen(self, desc: Descriptor, identity: Identity) -> Any:
        return self._open_section(desc)

    def map(self, handle: Any, desc: Descriptor, length: int, offset: int,
            whole: bool) -> mmap.mmap:
        return mmap.mmap(-1, length, tagname=handle.name,  # type: ignore
                         access=_access(desc), offset=offset)

    def close(self, handle: Any) -> None:
        import _winapi  # type: ignore[import-not-found]
        _winapi.CloseHandle(handle.handle)

    def _open_section(self, desc: Descriptor) -> Section:
        name = windows_section_name(desc)
        try:
            import _winapi  # type: ignore[import-not-found]
        except ImportError:
            raise PlatformError(
                f"{desc.label()}: cannot open section {name}: _winapi is "
                f"available on Windows only",
                remediation=f"on this system use {OPEN_BY_ENV}=path (Linux) "
                            f"or name (POSIX shm)") from None
        access = (_winapi.FILE_MAP_READ if desc.read_only
                  else _winapi.FILE_MAP_WRITE)
        try:
            handle = _winapi.OpenFileMapping(access, False, name)
        except OSError as exc:
            raise _by_name_error(exc, desc, "OpenFileMapping", name) from exc
        return Section(int(handle), name)

    def _size(self, section: Section, desc: Descriptor) -> int:
        from .layout import SEG_SEGMENT_BYTES_OFFSET
        end = SEG_SEGMENT_BYTES_OFFSET + 8
        try:
            with mmap.mmap(-1, end, tagname=section.name,  # type: ignore
                           access=mmap.ACCESS_READ) as head:
                size = int.from_bytes(head[SEG_SEGMENT_BYTES_OFFSET:end],
                                      "little")
        except OSError as exc:
            raise os_error(exc, desc, f"mmap {section.name}") from exc
        check_holds_region(size, desc, section.name)
        return size


PATH_OPENER = PathOpener()
"""The opener for segments that are files (Linux)."""

OpenerSpec = Union[None, str, SegmentOpener]
"""What ``attach(..., opener=...)`` takes: an opener, ``"path"``,
``"name"``, or None (environment, then platform)."""


def platform_opener(system: Optional[str] = None) -> SegmentOpener:
    """The default opener for ``system`` (``sys.platform`` by default):
    :class:`WindowsSectionOpener` on ``win32``, :class:`PosixShmOpener`
    on ``darwin``, :class:`PathOpener` everywhere else."""
    system = sys.platform if system is None else system
    if system == "win32":
        return WindowsSectionOpener()
    if system == "darwin":
        return PosixShmOpener(system)
    return PATH_OPENER


def name_opener(system: Optional[str] = None) -> SegmentOpener:
    """The by-name opener of ``system``: :class:`WindowsSectionOpener` on
    ``win32``, :class:`PosixShmOpener` elsewhere."""
    system = sys.platform if system is None else system
    if system == "win32":
        return WindowsSectionOpener()
    return PosixShmOpener(system)


def resolve_opener(opener: OpenerSpec = None,
                   system: Optional[str] = None) -> SegmentOpener:
    """The opener an attach uses: ``opener`` itself, or the one it names
    (``"path"``, ``"name"``); None reads ``SNAKEPIT_SHM_OPEN_BY`` and
    falls back to :func:`platform_opener`.

    Raises:
        InvalidRequestError: ``opener`` or the environment variable is
            neither ``path`` nor ``name``.
    """
    if isinstance(opener, SegmentOpener):
        return opener
    source = "opener"
    if opener is None:
        value = os.environ.get(OPEN_BY_ENV, "")
        if value == "":
            return platform_opener(system)
        opener, source = value, OPEN_BY_ENV
    if opener == OPEN_BY_PATH:
        return PATH_OPENER
    if opener == OPEN_BY_NAME:
        return name_opener(system)
    raise InvalidRequestError(
        f"{source}={opener!r}: how to open segments must be 'path' (files, "
        f"Linux) or 'name' (POSIX shm names on macOS, named sections on "
        f"Windows)",
        remediation=f"pass opener='path' or 'name' (or a SegmentOpener), "
                    f"or set {OPEN_BY_ENV} to path or name, or unset it to "
                    f"choose by platform")

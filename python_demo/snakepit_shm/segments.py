"""One mapping per segment, shared by every region of the process.

A pooled segment holds many regions. Rather than opening and mapping the
file once per attached region, :func:`~snakepit_shm.region.attach` takes the
segment from a :class:`SegmentCache` (by default the process-wide one,
:func:`default_cache`) and the :class:`~snakepit_shm.region.Region` is a
view, a ``memoryview`` slice, of the segment's one mapping.

**Opening.** How a segment is opened, identified and mapped is the
entry's :class:`~snakepit_shm.openers.SegmentOpener`
(:mod:`snakepit_shm.openers`): by path on Linux (the file at the
descriptor's ``path``), by POSIX shm name on macOS (``shm_open`` of the
descriptor's ``segment``), as a named section on Windows; chosen per attach
(``attach(..., opener=...)``, ``SNAKEPIT_SHM_OPEN_BY``, or the platform).
What follows says "file" and "descriptor" for the Linux case; the opener
module says what differs elsewhere.

**Identity.** Entries are keyed by :class:`SegmentKey`: the path, the
segment's identity and the access mode. The identity is the file's
``st_dev`` and ``st_ino`` by path (``lstat`` at every attach; ``fstat``
after the open that creates an entry) and by name where the kernel reports
an inode (Linux); the segment header's creation fields by name on macOS;
the section name on Windows (see :mod:`snakepit_shm.openers`). A file
replaced at the same path (another inode) is another segment with its own
mapping; a removed file makes attach fail with
:class:`~snakepit_shm.errors.StaleDescriptorError` while regions attached
earlier keep their mapping.

**Modes.** A read_only descriptor opens the file ``O_RDONLY`` and maps it
``PROT_READ``; a read_write descriptor ``O_RDWR`` and
``PROT_READ|PROT_WRITE``. They are separate entries, so a read_only region
never gets a view of a writable mapping: a segment has at most two
mappings in a process, one per mode (and for a moment more, see *Growth* and
*Views that outlive their region*).

**The mapping** covers the whole file, offset 0 to its size when opened.
Offset 0 is a multiple of every granule and files on hugetlbfs are whole
huge pages, so this satisfies the hugetlbfs rules of
:mod:`snakepit_shm.geometry` (offsets and lengths in whole huge pages). It
reserves address space for the whole segment, not memory (pages are
touched on use). It is made at the first attach that wants a full view;
attaches with ``max_window_bytes`` need only the descriptor. When it fails
with ENOMEM, the attaching region falls back to windowed mode
(:mod:`snakepit_shm.windows`) with windows of the entry's descriptor, and
the next full attach tries again.

**Descriptors: one per entry.** CPython before 3.13 duplicates the
descriptor inside every ``mmap`` object. There the entry closes its own
descriptor right after mapping a file it has just opened, so a mapped
segment costs exactly one descriptor, the mapping's. When one is needed
later (the write lock, the lock test of a lock-free read, windows), the entry
opens the path (or name) again and keeps the new descriptor only if the
identity is the same (otherwise the segment was removed or replaced:
``StaleDescriptorError``). On 3.13+ the mapping is made with
``trackfd=False`` and the entry keeps its own descriptor instead. Windows of
windowed regions are separate short-lived mappings, each with its own
duplicate while it lives. (A Windows entry keeps its section handle while it
lives.)

**Reference counting, no idle time.** Each open Region holds one reference.
When the last is given back (``Region.close()``), the entry is removed and
its mapping and descriptor are closed at once. The price is a new
open+mmap when the process attaches the segment again after closing every
region of it (microseconds; the file's pages stay in memory, only page
tables are rebuilt). In return resources are deterministic (a process that
closed its regions holds nothing, which tests check in /proc/self/fd and
/proc/self/maps), and a segment the manager has unlinked stops pinning
tmpfs memory as soon as this process is done with it, which an idle timer
would delay. A Region dropped without ``close()`` hands its reference back
at the cache's next acquire or release (its ``__del__`` only queues it, so
nothing runs inside a garbage-collection callback).

**Views that outlive their region.** A region refuses to close while
memoryviews or arrays from it are alive (``RegionBusyError``). When such a
region is abandoned (an exception propagating out of a ``with`` block), its
views keep the mapping alive: the entry is removed from the cache, its
descriptor closed, and the mapping is unmapped by the garbage collector when
the last view dies; an attach meanwhile makes a new mapping.

**Growth.** Segment files have a fixed size. Should a region end beyond the
size an entry was opened with (the file grew), that entry is retired (its
regions keep it) and a new one maps the file at its new size.

**Write locks.** The write lock of docs/SYNC.md is an OFD lock on the first
byte of the region header. All regions of a segment (per mode) now share one
open file description, which the kernel does not tell apart, so each entry
keeps a :class:`ByteLocks` table: a region takes the byte in the table
first (excluding other regions and other threads of this process), then the
OFD lock (excluding other processes), and unlocks in the reverse order.

**Threads.** The cache's lock guards the entries and their reference
counts; attach and close of regions of one segment from many threads are
safe. After ``fork`` the child gets fresh locks (a lock held by another
parent thread at the fork would otherwise never be released).
"""

from __future__ import annotations

import collections
import errno
import itertools
import logging
import mmap
import os
import threading
import time
import weakref
from typing import (Any, Callable, Deque, Dict, List, NamedTuple, Optional,
                    Tuple)

from . import sync
from .descriptor import Descriptor
from .geometry import MapGeometry
from .openers import (MMAP_TRACKFD, Identity, OpenerSpec, SegmentOpener,
                      resolve_opener)
from .oserrors import os_error

LOG = logging.getLogger("snakepit_shm")

__all__ = ["MMAP_TRACKFD", "ByteLocks", "LockBusy", "Segment",
           "SegmentCache", "SegmentInfo", "SegmentKey", "default_cache",
           "new_token"]

_TOKENS = itertools.count(1)


def new_token() -> int:
    """A process-unique number naming one Region in the lock tables."""
    return next(_TOKENS)


class SegmentKey(NamedTuple):
    """What makes two attaches share a mapping."""

    path: str
    identity: Identity
    """``("inode", st_dev, st_ino)``, ``("header", bytes)`` or
    ``("section", name)``: see :mod:`snakepit_shm.openers`."""
    read_only: bool


class SegmentInfo(NamedTuple):
    """One cache entry, for :meth:`SegmentCache.snapshot`."""

    path: str
    read_only: bool
    regions: int
    """Open regions holding the entry."""
    mapped_bytes: int
    """Length of the shared mapping; 0 when not mapped (windowed only)."""
    own_descriptor: bool
    """True when the entry holds a descriptor of its own (see module doc:
    before Python 3.13 a mapped entry usually has only the mapping's)."""
    open_by: str = "path"
    """How the entry was opened: ``"path"`` or ``"name"``."""


class LockBusy(Exception):
    """A byte of a :class:`ByteLocks` table stayed claimed until the
    deadline; ``holder`` says by whom, in words for an error message."""

    def __init__(self, holder: str) -> None:
        super().__init__(holder)
        self.holder = holder


class _Claim:
    __slots__ = ("token", "thread", "depth", "writing")

    def __init__(self, token: int, thread: int, writing: bool) -> None:
        self.token = token
        self.thread = thread
        self.depth = 1
        self.writing = writing


class ByteLocks:
    """Which region (and thread) of this process uses the lock byte of a
    region, for the regions sharing one open file description.

    A claim is exclusive: a write lock (``writing``) or a locked read's
    ``F_RDLCK`` (the fallback of docs/SYNC.md; an ``F_RDLCK`` taken on the
    shared description while a write lock is held on it would silently
    downgrade that lock). Write claims are reentrant for the same region and
    thread.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._claims: Dict[int, _Claim] = {}

    def claim(self, at: int, token: int, writing: bool,
              deadline: float) -> bool:
        """Claim byte ``at`` for region ``token`` and the calling thread,
        waiting until ``deadline`` (``time.monotonic()``) at most; one
        attempt when the deadline has passed.

        Returns:
            True for a new claim (the caller now takes the OFD lock and
            must :meth:`unclaim`); False when the calling thread already
            holds the region's write claim (re-entered: the caller must
            still :meth:`unclaim`, which then only counts down).

        Raises:
            LockBusy: still claimed by another region or thread.
        """
        me = threading.get_ident()
        with self._cond:
            while True:
                held = self._claims.get(at)
                if held is None:
                    self._claims[at] = _Claim(token, me, writing)
                    return True
                if (writing and held.writing and held.token == token
                        and held.thread == me):
                    held.depth += 1
                    return False
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise LockBusy(
                        "another thread of this process (through the same "
                        "Region)" if held.token == token else
                        "another attach of the region in this process")
                self._cond.wait(min(remaining, threading.TIMEOUT_MAX))

    def unclaim(self, at: int, token: int,
                unlock: Callable[[], None]) -> None:
        """Count down the calling thread's claim of ``at``; at zero call
        ``unlock()`` (release the OFD lock, while still claimed) and free
        the byte. No-op when the claim is gone (``close()`` released it)."""
        me = threading.get_ident()
        with self._cond:
            held = self._claims.get(at)
            if held is None or held.token != token or held.thread != me:
                return
            held.depth -= 1
            if held.depth:
                return
            try:
                unlock()
            finally:
                del self._claims[at]
                self._cond.notify_all()

    def holds(self, at: int, token: int) -> bool:
        """True when region ``token`` holds the write claim of ``at`` in the
        calling thread."""
        with self._cond:
            held = self._claims.get(at)
            return (held is not None and held.writing and held.token == token
                    and held.thread == threading.get_ident())

    def writer_other_than(self, at: int, token: int) -> bool:
        """True when a write claim of ``at`` is held by another region or
        another thread (the kernel would not report it: same description)."""
        with self._cond:
            held = self._claims.get(at)
            return (held is not None and held.writing
                    and (held.token != token
                         or held.thread != threading.get_ident()))

    def release_all(self, token: int,
                    unlock: Callable[[int], None]) -> int:
        """Free every byte region ``token`` claims (any thread), calling
        ``unlock(at)`` first for each; returns how many."""
        with self._cond:
            mine = [at for at, held in self._claims.items()
                    if held.token == token]
            for at in mine:
                try:
                    unlock(at)
                finally:
                    del self._claims[at]
            if mine:
                self._cond.notify_all()
            return len(mine)

    def _after_fork(self) -> None:
        self._cond = threading.Condition(threading.Lock())


class Segment:
    """One cache entry: a segment opened in one mode, its descriptor (or
    section handle), its mapping (when made) and its lock table.

    Attributes:
        key: path, identity and mode.
        opener: how the segment is opened, mapped and closed.
        file_bytes: the segment's size when it was opened.
        geometry: where mappings of the file may start (hugetlbfs rules).
        locks: the table of claimed lock bytes.
        view: a memoryview of the whole mapping, or None when not mapped.
        map_failure: the OSError (ENOMEM) of the last failed attempt to
            map, with ``map_failure_bytes`` its length; None after success.
    """

    def __init__(self, key: SegmentKey, fd: Any, file_bytes: int,
                 geometry: MapGeometry,
                 opener: Optional[SegmentOpener] = None) -> None:
        self.key = key
        self.opener: SegmentOpener = resolve_opener(
            "path" if opener is None else opener)
        self.file_bytes = file_bytes
        self.geometry = geometry
        self.locks = ByteLocks()
        self.view: Optional[memoryview] = None
        self.map_failure: Optional[OSError] = None
        self.map_failure_bytes = 0
        self.refs = 0
        self.closed = False
        self._fd: Optional[Any] = fd
        self._fd_lock = threading.Lock()
        self._mapping: Optional[mmap.mmap] = None

    @property
    def read_only(self) -> bool:
        """True for the read_only entry (``O_RDONLY``, ``PROT_READ``)."""
        return self.key.read_only

    @property
    def mapped_bytes(self) -> int:
        """Length of the mapping (the file size when mapped); 0 if none."""
        return 0 if self._mapping is None else len(self._mapping)

    def info(self) -> SegmentInfo:
        """This entry as a :class:`SegmentInfo`."""
        return SegmentInfo(self.key.path, self.read_only, self.refs,
                           self.mapped_bytes, self._fd is not None,
                           self.opener.open_by)

    def fd(self, desc: Descriptor) -> Any:
        """The entry's descriptor (a section handle on Windows), opened
        again when it was closed after mapping (see module doc); kept until
        the entry closes.

        Raises:
            StaleDescriptorError: the file at the path is gone or is another
                file now.
            ShmError: opening failed otherwise (typed as at attach).
        """
        with self._fd_lock:
            if self._fd is None:
                self._fd = self.opener.reopen(desc, self.key.identity)
            return self._fd

    def existing_fd(self) -> Optional[Any]:
        """The descriptor if one is open, without opening one."""
        return self._fd

    def map_whole(self, desc: Descriptor) -> bool:
        """Map the whole file unless mapped already (the cache's lock is
        held). Returns False, remembering the error in ``map_failure``,
        when mmap fails with ENOMEM.

        Raises:
            ShmError: mmap failed otherwise (typed).
        """
        if self.view is not None:
            return True
        length = self.geometry.map_length(0, self.file_bytes)
        fd = self.fd(desc)
        try:
            mapping = self.opener.map(fd, desc, length, 0, whole=True)
        except OSError as exc:
            if exc.errno != errno.ENOMEM:
                raise os_error(exc, desc, "mmap") from exc
            self.map_failure, self.map_failure_bytes = exc, length
            return False
        self._mapping = mapping
        self.view = memoryview(mapping)
        self.map_failure = None
        return True

    def map_range(self, desc: Descriptor, length: int,
                  offset: int) -> mmap.mmap:
        """A separate mapping of ``length`` bytes at ``offset`` (a window),
        made by the entry's opener from its descriptor.

        Raises:
            OSError: as ``mmap`` raises it (the window mapper types it).
            ShmError: the descriptor had to be opened again and that failed.
        """
        return self.opener.map(self.fd(desc), desc, length, offset,
                               whole=False)

    def drop_own_fd(self) -> None:
        """Close the entry's descriptor while the mapping holds a duplicate
        (only right after mapping a freshly opened file: nobody else has
        seen the descriptor)."""
        with self._fd_lock:
            fd, self._fd = self._fd, None
        if fd is not None:
            self.opener.close(fd)

    def segment_header_bytes(self, desc: Descriptor, count: int) -> bytes:
        """The first ``count`` bytes of the segment: from the mapping, or
        when not mapped with ``pread`` (which hugetlbfs supports), or a
        small mapping where the opener cannot ``pread`` (macOS, Windows).

        Raises:
            ShmError: reading failed (typed).
        """
        view = self.view
        if view is not None:
            return bytes(view[:count])
        return self.opener.read_head(self.fd(desc), desc, count,
                                     self.geometry)

    def close(self) -> None:
        """Unmap and close (the cache calls it when the last region is
        gone). A mapping still viewed (abandoned regions) is left to the
        garbage collector."""
        self.closed = True
        view, self.view = self.view, None
        mapping, self._mapping = self._mapping, None
        if view is not None:
            try:
                view.release()
            except BufferError:          # pragma: no cover - never exported
                pass
        if mapping is not None:
            try:
                mapping.close()
            except BufferError:
                LOG.debug("%s: the segment mapping is still viewed (an "
                          "abandoned region's arrays); it is unmapped when "
                          "the last view dies", self.key.path)
        with self._fd_lock:
            fd, self._fd = self._fd, None
        if fd is not None:
            self.opener.close(fd)

    def _after_fork(self) -> None:
        self._fd_lock = threading.Lock()
        self.locks._after_fork()


class SegmentCache:
    """The segments this process has mapped, shared by the regions using
    them (see the module doc). Thread-safe.

    Most code uses the process-wide :func:`default_cache` through
    :func:`~snakepit_shm.region.attach`; a separate instance (``attach(...,
    cache=SegmentCache())``) has its own descriptors and mappings, hence
    its own open file descriptions: its write locks exclude the default
    cache's like another process's would.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._segments: Dict[SegmentKey, Segment] = {}
        self._pending: Deque[Tuple[Segment, int]] = collections.deque()
        _CACHES.add(self)

    def acquire(self, desc: Descriptor, map_whole: bool,
                opener: OpenerSpec = None) -> Tuple[Segment, int]:
        """The entry for the segment ``desc`` names, with one more
        reference (give it back with :meth:`release`), and the segment's
        current size. With ``map_whole`` the entry is mapped if it was not
        (ENOMEM leaves it unmapped, with ``map_failure`` set). ``opener``
        says how to open it (see
        :func:`~snakepit_shm.openers.resolve_opener`); an existing entry of
        the same identity is shared whichever opener made it.

        Raises:
            StaleDescriptorError: the segment does not exist.
            InvalidRegionError: a symlink, not a regular file, or shorter
                than the region's end.
            AccessDeniedError: the OS refused to open it.
            InvalidRequestError: ``opener`` (or SNAKEPIT_SHM_OPEN_BY) is
                neither path nor name.
            ShmError: any other OS failure (typed).
        """
        self._drain()
        how = resolve_opener(opener)
        identity, size = how.probe(desc)
        key = SegmentKey(desc.path, identity, desc.read_only)
        end = desc.offset + desc.size
        with self._lock:
            segment = self._segments.get(key)
            if segment is not None and segment.file_bytes < end:
                del self._segments[key]              # grown: retire it
                segment = None
            fresh = False
            if segment is None:
                segment, fresh = self._open(desc, key, how)
            segment.refs += 1
            try:
                if (map_whole and segment.map_whole(desc) and fresh
                        and not MMAP_TRACKFD
                        and not segment.opener.keeps_handle):
                    segment.drop_own_fd()
            except BaseException:
                self._unref(segment)
                raise
        return segment, size

    def release(self, segment: Segment, token: Optional[int]) -> None:
        """Give back one reference of region ``token`` (None: a region
        that never took a lock): its lock claims are freed (OFD locks
        released) and, for the last reference, the entry is removed and
        closed."""
        self._release(segment, token)
        self._drain()

    def defer_release(self, segment: Segment, token: int) -> None:
        """:meth:`release` at the next acquire or release; safe from
        ``__del__`` (it takes no lock)."""
        self._pending.append((segment, token))

    def snapshot(self) -> List[SegmentInfo]:
        """The entries now (after handing back dropped regions'
        references)."""
        self._drain()
        with self._lock:
            return [segment.info() for segment in self._segments.values()]

    def _release(self, segment: Segment, token: Optional[int]) -> None:
        if token is not None:
            _release_claims(segment, token)
        with self._lock:
            closing = self._unref(segment)
        if closing:
            segment.close()

    def _unref(self, segment: Segment) -> bool:
        """One reference less (the lock is held); True when it was the last
        and the entry left the cache (the caller closes it)."""
        segment.refs -= 1
        if segment.refs > 0:
            return False
        if self._segments.get(segment.key) is segment:
            del self._segments[segment.key]
        return True

    def _drain(self) -> None:
        while True:
            try:
                segment, token = self._pending.popleft()
            except IndexError:
                return
            self._release(segment, token)

    def _open(self, desc: Descriptor, key: SegmentKey,
              opener: SegmentOpener) -> Tuple[Segment, bool]:
        """Open the segment and add its entry (the lock is held); True
        with a new entry, False when it turned out to be another one,
        already cached (replaced between probe and open)."""
        opened = opener.open(desc)
        try:
            key_opened = SegmentKey(desc.path, opened.identity,
                                    desc.read_only)
            if key_opened != key:        # replaced between probe and open
                existing = self._segments.get(key_opened)
                if existing is not None and \
                        existing.file_bytes >= desc.offset + desc.size:
                    opener.close(opened.handle)
                    return existing, False
            segment = Segment(key_opened, opened.handle, opened.size,
                              opened.geometry, opener)
        except BaseException:
            opener.close(opened.handle)
            raise
        self._segments[key_opened] = segment
        return segment, True

    def _after_fork(self) -> None:
        self._lock = threading.Lock()
        for segment in self._segments.values():
            segment._after_fork()


def _release_claims(segment: Segment, token: int) -> None:
    """Free region ``token``'s lock claims, releasing their OFD locks
    (failures are logged: the region is going away regardless)."""

    def unlock(at: int) -> None:
        fd = segment.existing_fd()
        if fd is None:
            return
        try:
            sync.unlock(fd, at)
        except (OSError, sync.Unsupported) as exc:
            LOG.warning("%s: releasing the write lock on byte %d failed: "
                        "%s", segment.key.path, at, exc)

    segment.locks.release_all(token, unlock)


_CACHES: "weakref.WeakSet[SegmentCache]" = weakref.WeakSet()

_DEFAULT_CACHE = SegmentCache()


def default_cache() -> SegmentCache:
    """The process-wide cache :func:`~snakepit_shm.region.attach` uses
    unless given another."""
    return _DEFAULT_CACHE


def _after_fork_in_child() -> None:
    for cache in list(_CACHES):
        cache._after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)

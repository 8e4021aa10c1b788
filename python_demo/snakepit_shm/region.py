"""Attach to a region by descriptor: a view of its segment's one mapping.

``attach`` takes the segment the descriptor names from a
:class:`~snakepit_shm.segments.SegmentCache` (the process-wide one unless
``cache=`` says otherwise). The cache opens each segment file once per
access mode (``O_NOFOLLOW|O_CLOEXEC``; ``O_RDONLY`` for read_only access,
``O_RDWR`` otherwise), keyed by path, device and inode, and maps the whole
file once with ``MAP_SHARED`` (``PROT_READ`` only for read_only). Every
:class:`Region` of that segment is then a ``memoryview`` slice of that one
mapping: attaching 10,000 regions of a pooled segment costs one mapping and
one file descriptor, not 10,000. The segment's reference count is the
number of open regions; the last ``close()`` unmaps it and closes the
descriptor (see :mod:`snakepit_shm.segments` for the rules: identity, the
two modes, no idle time, descriptors, growth).

The checks stay per attach: the segment header (CRC included) is read again
from the mapping, the region header (CRC, id, generation, state, size,
offset) from the mapping too, so a freed, reused or corrupt region is
reported at attach exactly as before (docs/MEMORY_LAYOUT.md).

The granule is ``mmap.ALLOCATIONGRANULARITY`` on tmpfs and the huge page
size when the segment lives on hugetlbfs; the whole-file mapping starts at
offset 0 and hugetlbfs files are whole huge pages, so it obeys the
hugetlbfs rules, and windows follow them too (:mod:`snakepit_shm.geometry`).
The file is only ever read with ``pread`` (the segment header, when not
mapped) and written through mappings, never with ``pwrite``, which
hugetlbfs refuses.

When the segment mapping fails for lack of address space (ENOMEM, e.g. a
lowered ``RLIMIT_AS``), the region falls back to *windowed* mode instead of
failing: it logs a warning on the ``snakepit_shm`` logger and maps only the
window each ``read``/``write``/``windows()`` step needs, from the segment's
descriptor (see :mod:`snakepit_shm.windows`). ``attach(...,
max_window_bytes=N)`` asks for windowed mode up front (and does not map the
segment). A windowed region has no full view: ``memoryview`` and
``numpy()`` raise :class:`AddressSpaceError`.

How the segment is opened is the cache's business: by path on Linux (the
default), by POSIX shm name on macOS, as a named section on Windows
(:mod:`snakepit_shm.openers`; ``attach(..., opener="path"|"name")`` or
``SNAKEPIT_SHM_OPEN_BY`` overrides the platform's choice). Where the
platform has no cross-process locks for the segment (macOS, Windows),
:meth:`Region.write_lock`, :meth:`Region.write_consistent` and
:meth:`Region.read_consistent` raise :class:`LockUnsupportedError`.

This module never unlinks anything and never uses
``multiprocessing.shared_memory``, whose resource tracker unlinks segments it
merely attached to when the process exits (cpython#82300). Closing a
:class:`Region` or exiting the process only unmaps; the manager owns the file.

The write lock of docs/SYNC.md is an open-file-description lock on the
segment's shared descriptor; since all regions of the segment share that
description, the segment's lock table
(:class:`~snakepit_shm.segments.ByteLocks`) excludes other regions and
threads of this process and the OFD lock other processes.
``write_consistent``/``read_consistent`` follow the protocol of
docs/SYNC.md (:mod:`snakepit_shm.sync`); plain ``write``/``read`` do not
synchronize (single-writer data).

Thread safety: ``attach`` and ``close`` may run in many threads at once,
also for regions of one segment (the cache has a lock). A :class:`Region`
may be read and written from several threads (no locking around payload
bytes; the write lock excludes other threads using the same Region too),
but ``close()`` must not race with other calls on the same Region.
"""

from __future__ import annotations

import contextlib
import mmap
import pickle
from types import TracebackType
from typing import (Any, Callable, Iterator, Mapping, Optional, Sequence,
                    Tuple, Type, Union)

from . import sync

from .checks import check_region_header, check_segment_header
from .descriptor import Descriptor, parse_descriptor
from .errors import (AddressSpaceError, InvalidRegionError,
                     LockTimeoutError, LockUnsupportedError,
                     ReadOnlyRegionError, RegionBusyError, RegionUsageError)
from .geometry import MapGeometry
from .layout import (REGION_HEADER_BYTES, REGION_STATE_LIVE,
                     SEGMENT_HEADER_BYTES, RegionHeader, SegmentHeader,
                     parse_region_header, parse_segment_header,
                     region_header_offset)
from .openers import OpenerSpec
from .oserrors import address_space_limit_bytes, errno_name, os_error
from .segments import (LockBusy, Segment, SegmentCache, default_cache,
                       new_token)
from .sync import DEFAULT_TIMEOUT_S, ReadResult, SeqCell
from .windows import (DEFAULT_WINDOW_BYTES, LOG, WindowMapper,
                      check_window_bytes, read_span, write_span)

_os_error = os_error
"""Kept under its old name for callers of this module."""

BytesLike = Union[bytes, bytearray, memoryview]

View = memoryview
"""``memoryview`` for annotations inside :class:`Region`, whose property
of that name hides the builtin there."""

LOCK_UNSUPPORTED_REMEDIATION = (
    "let the manager do consistent writes and reads (the Elixir client's "
    "write_consistent/5 and read_consistent/5 go through the node), or use "
    "plain read()/write() with a single writer per region; locked access "
    "from Python needs Linux (docs/PLATFORMS.md, docs/SYNC.md)")
"""What to do when the platform has no cross-process region locks."""

NUMPY_MISSING_MESSAGE = (
    "numpy is not installed, so Region.numpy() is unavailable; install it "
    "(pip install 'snakepit-shm[numpy]') or use Region.memoryview, which "
    "needs only the standard library")


def attach(descriptor: Mapping[str, Any],
           max_window_bytes: Optional[int] = None, *,
           cache: Optional[SegmentCache] = None,
           opener: OpenerSpec = None) -> "Region":
    """Map the payload a descriptor names and return it as a :class:`Region`.

    The region is a view of its segment's one shared mapping (made at the
    first attach of the segment in this process, closed with the last
    region; see :mod:`snakepit_shm.segments`).

    Args:
        descriptor: the map the manager returned (CONTRACT section 3): keys
            id, generation, segment, path, offset, size, access, tenant,
            session (others, such as token, are ignored).
        max_window_bytes: None (default) views the segment's whole mapping,
            falling back to windowed mode with a warning if mapping it
            fails with ENOMEM. A byte count forces windowed mode with
            windows of at most that many bytes (rounded down to whole
            granules of the file, at least one:
            ``mmap.ALLOCATIONGRANULARITY`` on tmpfs, the huge page size on
            hugetlbfs), for a bounded address-space footprint; the segment
            is then not mapped for this region.
        cache: the segment cache to use; default the process-wide one
            (:func:`~snakepit_shm.segments.default_cache`).
        opener: how to open the segment: ``"path"`` (the file at
            ``path``; Linux), ``"name"`` (``segment`` by name: POSIX shm
            with ``shm_open``, or a Windows section), or a
            :class:`~snakepit_shm.openers.SegmentOpener`. None (default):
            the environment variable ``SNAKEPIT_SHM_OPEN_BY`` (``path`` or
            ``name``) if set, else the platform's way (by name on macOS and
            Windows, by path elsewhere). See :mod:`snakepit_shm.openers`.

    Raises:
        InvalidDescriptorError: the dict is malformed.
        StaleDescriptorError: the segment file is gone, or the region header
            says freed or names another id/generation.
        InvalidRegionError: the file is not a layout-1 segment holding this
            region (bad magic/layout, too short, symlink, not a file), a
            header's CRC-32 does not match its bytes (corrupt header), or
            the manager marked the region invalid (state 3).
        AccessDeniedError: the OS refused to open the file.
        AddressSpaceError: not even one granule could be mapped (ENOMEM).
        RegionUsageError: ``max_window_bytes`` is not a positive int.
        InvalidRequestError: ``opener`` (or ``SNAKEPIT_SHM_OPEN_BY``) is
            neither ``path`` nor ``name``.
        PlatformError: any other OS failure (code ``platform_error``).
    """
    desc = parse_descriptor(descriptor)
    if max_window_bytes is not None:
        check_window_bytes(max_window_bytes, desc, "max_window_bytes")
    segments = default_cache() if cache is None else cache
    segment, file_bytes = segments.acquire(
        desc, map_whole=max_window_bytes is None, opener=opener)
    try:
        raw = segment.segment_header_bytes(desc, SEGMENT_HEADER_BYTES)
        segment_header = parse_segment_header(raw)
        check_segment_header(segment_header, desc, file_bytes)
        if max_window_bytes is not None:
            window_bytes = segment.geometry.whole_granules(max_window_bytes)
            return Region._windowed(
                segments, segment, desc, segment_header, window_bytes,
                reason=f"it was attached with max_window_bytes="
                       f"{max_window_bytes}, which bounds its address use to "
                       f"windows of {window_bytes} bytes")
        if segment.view is None:
            return Region._fallback(segments, segment, desc, segment_header)
        return Region._viewed(segments, segment, desc, segment_header)
    except BaseException:
        segments.release(segment, None)  # on success the Region holds it
        raise


class Region:
    """One attached region: exactly its payload bytes, shared.

    Obtain one with :func:`attach`. Use it as a context manager or call
    :meth:`close`. ``memoryview`` and ``numpy()`` are views of the
    segment's shared mapping, not copies.

    A *windowed* region (``windowed`` is True) holds no mapping between
    calls: ``read``, ``write``, ``windows()`` and ``check()`` map what they
    need and unmap it again; ``memoryview`` and ``numpy()`` raise
    :class:`AddressSpaceError`.

    Several processes (or threads) writing one region, or reading it while
    it is written, use :meth:`write_lock`, :meth:`write_consistent` and
    :meth:`read_consistent` (docs/SYNC.md).
    """

    def __init__(self, *, descriptor: Descriptor, cache: SegmentCache,
                 segment: Segment, segment_header: SegmentHeader,
                 region_header: RegionHeader,
                 mapper: Optional[WindowMapper] = None,
                 windowed_reason: Optional[str] = None) -> None:
        """Internal: use :func:`attach`. The Region holds one reference of
        ``segment`` and gives it back in :meth:`close`. Without ``mapper``
        the segment must be mapped (the region views its mapping);
        with it, the region is windowed."""
        self._descriptor = descriptor
        self._cache = cache
        self._segment = segment
        self._token = new_token()
        """Names this Region in the segment's lock table."""
        self._mapper = mapper
        self._geometry: MapGeometry = segment.geometry
        self._windowed_reason = windowed_reason
        self._closed = False
        self._segment_header = segment_header
        self._region_header = region_header
        self._payload: Optional[View] = None
        self._exporter: Optional[pickle.PickleBuffer] = None
        if mapper is None:
            assert segment.view is not None
            self._payload = segment.view[descriptor.offset:
                                         descriptor.offset + descriptor.size]
            self._exporter = pickle.PickleBuffer(self._payload)
            """Hands out the views: every buffer taken from it is an export
            of ``_payload``, so ``_payload.release()`` fails (busy) while
            any view, slice or array of this region is alive."""

    @classmethod
    def _viewed(cls, cache: SegmentCache, segment: Segment,
                desc: Descriptor, segment_header: SegmentHeader
                ) -> "Region":
        """Check the region header in the segment's mapping and return a
        region viewing it."""
        assert segment.view is not None
        view: View = segment.view
        header_at = region_header_offset(desc.offset)
        region_header = _checked_region_header(
            lambda: parse_region_header(view, header_at), desc)
        return cls(descriptor=desc, cache=cache, segment=segment,
                   segment_header=segment_header,
                   region_header=region_header)

    @classmethod
    def _fallback(cls, cache: SegmentCache, segment: Segment,
                  desc: Descriptor, segment_header: SegmentHeader
                  ) -> "Region":
        """The segment did not map (ENOMEM): a windowed region, logged as
        a warning."""
        failure = segment.map_failure
        code = failure.errno if failure is not None else None
        strerror = failure.strerror if failure is not None else "?"
        length = segment.map_failure_bytes
        window_bytes = segment.geometry.whole_granules(DEFAULT_WINDOW_BYTES)
        region = cls._windowed(
            cache, segment, desc, segment_header, window_bytes,
            reason=f"mapping its whole segment ({length} bytes) failed with "
                   f"{errno_name(code)}, the full view does not fit this "
                   f"process's address space")
        limit = address_space_limit_bytes()
        LOG.warning(
            "%s: mapping the whole segment (%d bytes) failed with %s "
            "(errno %s: %s; RLIMIT_AS %s%s); mapping windows of at most %d "
            "bytes instead (Region.windowed: use windows(), read(), write(); "
            "memoryview and numpy() are unavailable)",
            desc.label(), length, errno_name(code), code, strerror,
            "unlimited" if limit is None else f"{limit} bytes",
            segment.geometry.enomem_hint, region.window_bytes)
        return region

    @classmethod
    def _windowed(cls, cache: SegmentCache, segment: Segment,
                  desc: Descriptor, segment_header: SegmentHeader,
                  window_bytes: int, reason: str) -> "Region":
        """A region mapping windows of the segment's descriptor; the
        region header is checked through a one-granule window (no mapping
        outlives this call). ``window_bytes`` is whole granules of the
        segment's geometry."""
        segment.fd(desc)         # opened again (and checked) if it was closed

        def map_range(length: int, offset: int) -> "mmap.mmap":
            return segment.map_range(desc, length, offset)

        mapper = WindowMapper(map_range, desc, window_bytes,
                              segment.geometry)
        region_header = _read_region_header(mapper, desc)
        return cls(descriptor=desc, cache=cache, segment=segment,
                   segment_header=segment_header,
                   region_header=region_header, mapper=mapper,
                   windowed_reason=reason)

    # --- properties ---------------------------------------------------------

    @property
    def descriptor(self) -> dict[str, Any]:
        """The descriptor this region was attached with, as a plain dict."""
        return self._descriptor.as_dict()

    @property
    def id(self) -> str:
        """The region id, 16 lowercase hex digits."""
        return self._descriptor.id

    @property
    def generation(self) -> int:
        """The region's generation."""
        return self._descriptor.generation

    @property
    def size(self) -> int:
        """Payload size in bytes (the descriptor's ``size``)."""
        return self._descriptor.size

    @property
    def read_only(self) -> bool:
        """True when attached with ``access == "read_only"``."""
        return self._descriptor.read_only

    @property
    def closed(self) -> bool:
        """True after a successful :meth:`close`."""
        return self._closed

    @property
    def windowed(self) -> bool:
        """True when the region maps windows on demand instead of holding
        one mapping of the whole payload (the full mapping did not fit the
        address space, or ``max_window_bytes`` was given)."""
        return self._mapper is not None

    @property
    def window_bytes(self) -> Optional[int]:
        """The current largest window of a windowed region (it shrinks when
        a window fails with ENOMEM); None for a fully mapped region."""
        return None if self._mapper is None else self._mapper.window_bytes

    @property
    def segment_header(self) -> SegmentHeader:
        """The segment header as read at attach time."""
        return self._segment_header

    @property
    def region_header(self) -> RegionHeader:
        """The region header as read at attach time (see :meth:`check`)."""
        return self._region_header

    @property
    def granule_bytes(self) -> int:
        """Mappings of this region's file start on multiples of this:
        ``mmap.ALLOCATIONGRANULARITY`` on ordinary file systems such as
        tmpfs, the huge page size (e.g. 2 MiB) on hugetlbfs. Windows are
        whole multiples of it."""
        return self._geometry.granule_bytes

    @property
    def map_offset_bytes(self) -> int:
        """File offset where the region's mapping starts: 0 for a viewed
        region (the segment's mapping covers the whole file); for a
        windowed one the granule holding the region header, where its
        first window starts (a multiple of :attr:`granule_bytes`)."""
        if self._mapper is not None:
            return self._geometry.floor(
                region_header_offset(self._descriptor.offset))
        return 0

    @property
    def map_length_bytes(self) -> int:
        """Length of the mapping the region views: the segment's shared
        mapping, the whole file (whole huge pages on hugetlbfs); 0 for a
        windowed region, which holds no mapping between calls."""
        if self._mapper is not None:
            return 0
        return self._geometry.map_length(0, self._segment.file_bytes)

    @property
    def segment_regions(self) -> int:
        """Open regions of this process sharing this region's segment
        entry (its mapping and descriptor), this one included; 0 once the
        entry is closed."""
        return self._segment.refs

    @property
    def lock_file_offset(self) -> int:
        """File offset of the byte the region's write lock covers: the
        first byte of the region header (``offset - 64``; docs/SYNC.md).
        ``/proc/locks`` lists a held lock with this byte as start and
        end."""
        return region_header_offset(self._descriptor.offset)

    @property
    def write_seq(self) -> int:
        """The region's sequence counter ``write_seq`` as it is now (u32 at
        region header offset 60): even when no write is in progress, odd
        during one or after a writer died during one (docs/SYNC.md).

        Raises:
            RegionUsageError: the region is closed.
            AddressSpaceError: windowed, and not even one granule maps.
        """
        with self._seq_cell() as cell:
            return cell.load()

    @property
    def memoryview(self) -> View:
        """A memoryview of exactly the payload: ``size`` bytes, format ``B``.

        Each access returns a new view over the same shared bytes. It is
        read-only (assignment raises ``TypeError``) when the region was
        attached read_only. Views keep the mapping alive: drop them before
        :meth:`close`.

        Raises:
            AddressSpaceError: the region is windowed (no full view fits);
                use :meth:`windows`, :meth:`read` or :meth:`write`.
            RegionUsageError: the region is closed.
        """
        return memoryview(self._full_view("memoryview"))

    # --- data access --------------------------------------------------------

    def numpy(self, dtype: Any = "uint8",
              shape: Optional[Union[int, Sequence[int]]] = None) -> Any:
        """A numpy array over exactly the payload, without copying.

        Args:
            dtype: element type; spell the byte order for multi-byte types
                (e.g. ``"<f8"``) since the layout carries no type.
            shape: optional shape; its product times the item size must be
                the payload size.

        Returns:
            ``numpy.ndarray`` sharing the payload bytes; not writeable when
            the region is read_only.

        Raises:
            ImportError: numpy is not installed (message says what to do).
            RegionUsageError: the size does not fit ``dtype``/``shape``, or
                the region is closed.
            AddressSpaceError: the region is windowed (no full view fits);
                use ``numpy.frombuffer`` on each view of :meth:`windows`.
        """
        exporter = self._full_view("numpy()")
        try:
            import numpy
        except ImportError as exc:
            raise ImportError(NUMPY_MISSING_MESSAGE) from exc
        item = numpy.dtype(dtype)
        if item.itemsize == 0 or self.size % item.itemsize:
            raise RegionUsageError(
                f"{self._descriptor.label()}: payload of {self.size} bytes "
                f"is not a whole number of {item} items "
                f"({item.itemsize} bytes each)",
                remediation="pick a dtype whose size divides the payload size")
        array = numpy.frombuffer(exporter, dtype=item)
        if shape is not None:
            try:
                array = array.reshape(shape)
            except ValueError as exc:
                raise RegionUsageError(
                    f"{self._descriptor.label()}: cannot view "
                    f"{array.size} {item} items as shape {shape}: {exc}",
                    remediation="pass a shape whose product is "
                                f"{array.size}") from exc
        if self.read_only:
            array.flags.writeable = False
        return array

    def read(self, offset: int, length: int) -> bytes:
        """Copy ``length`` payload bytes starting at payload ``offset``.

        Raises:
            RegionUsageError: the range leaves the payload or the region is
                closed.
            AddressSpaceError: windowed, and not even one granule maps.
        """
        self._require_open()
        self._check_range(offset, length)
        return self._copy_out(offset, length)

    def write(self, offset: int, data: BytesLike) -> int:
        """Copy ``data`` into the payload at payload ``offset``.

        Returns:
            the number of bytes written.

        Raises:
            ReadOnlyRegionError: the region was attached read_only.
            RegionUsageError: the range leaves the payload or the region is
                closed.
            AddressSpaceError: windowed, and not even one granule maps.
        """
        self._require_open()
        self._require_writable("writes are refused")
        with memoryview(data) as source:
            with source.cast("B") as raw:
                self._check_range(offset, len(raw))
                self._copy_in(offset, raw)
                return len(raw)

    # --- synchronization (docs/SYNC.md) ------------------------------------

    @contextlib.contextmanager
    def write_lock(self, timeout_s: float = DEFAULT_TIMEOUT_S
                   ) -> Iterator["Region"]:
        """Hold the region's exclusive write lock for the ``with`` block.

        The lock is an open-file-description lock (``F_OFD_SETLK``,
        ``F_WRLCK``) on one byte of the segment file, the first byte of the
        region header (:attr:`lock_file_offset`). It excludes every other
        process and every other attach of the region, whatever its language
        (the Java node takes the same lock), and threads sharing this
        Region. It is released when the block ends and when the region is
        closed, and by the kernel when the process dies (``kill -9``
        included). It is reentrant for the thread holding it:
        :meth:`write_consistent` inside the block neither waits nor releases
        it.

        Regions of one segment share its open file description, which the
        kernel does not tell apart, so the byte is first claimed in the
        segment's lock table (other attaches and threads of this process,
        waiting on a condition until ``timeout_s``), then locked with
        ``F_OFD_SETLK`` (other processes), backing off 50 µs doubling up
        to 5 ms while another holder has it, until ``timeout_s`` (0: a
        single attempt).

        The lock alone does not make readers safe: writes inside the block
        should use :meth:`write_consistent` (which moves ``write_seq``);
        plain :meth:`write` only excludes other writers.

        Yields:
            this region.

        Raises:
            LockTimeoutError: not taken within ``timeout_s`` (code
                ``timeout``).
            ReadOnlyRegionError: attached read_only (the lock needs a
                descriptor open for writing).
            RegionUsageError: closed, or ``timeout_s`` not a finite number
                >= 0.
            LockUnsupportedError: no cross-process locks on this platform
                (macOS, Windows; code ``platform_error``).
            PlatformError: ``fcntl`` failed (code ``platform_error``).
        """
        self._acquire_write_lock(timeout_s)
        try:
            yield self
        finally:
            self._release_write_lock()

    def write_consistent(self, offset: int, data: BytesLike,
                         timeout_s: float = DEFAULT_TIMEOUT_S) -> int:
        """Write ``data`` at payload ``offset`` so that readers using
        :meth:`read_consistent` (in any process or language) see either all
        of it or none of it.

        Takes the write lock (as :meth:`write_lock`, ``timeout_s``), makes
        ``write_seq`` odd, copies the bytes, makes ``write_seq`` even again
        and releases the lock. If ``write_seq`` was already odd, a writer
        died during a write: this write repairs the counter (the bytes it
        does not cover may still be incomplete) and logs a warning. If the
        copy itself fails (e.g. no address space for a window),
        ``write_seq`` stays odd and readers report the bytes incomplete.

        Returns:
            ``write_seq`` after the write (even).

        Raises:
            LockTimeoutError: the lock was not taken within ``timeout_s``.
            ReadOnlyRegionError: attached read_only.
            RegionUsageError: the range leaves the payload, the region is
                closed, or ``timeout_s`` is invalid.
            AddressSpaceError: windowed, and not even one granule maps.
            LockUnsupportedError: no cross-process locks on this platform
                (macOS, Windows).
            PlatformError: ``fcntl`` failed (``platform_error``).
        """
        self._require_open()
        self._require_writable("writes are refused")
        with memoryview(data) as source:
            with source.cast("B") as raw:
                written = len(raw)
                self._check_range(offset, written)
                with self.write_lock(timeout_s):
                    with self._seq_cell() as cell:
                        result = sync.seq_write(
                            cell, lambda: self._copy_in(offset, raw))
        if result.repaired_seq is not None:
            LOG.warning(
                "%s: write_seq was %d (odd): a writer died during a write; "
                "this write (payload bytes %d..%d) repaired the counter, "
                "bytes outside it may be incomplete",
                self._descriptor.label(), result.repaired_seq, offset,
                offset + written)
        return result.seq

    def read_consistent(self, offset: int, length: int,
                        timeout_s: float = DEFAULT_TIMEOUT_S) -> bytes:
        """Copy ``length`` payload bytes from ``offset``, never torn by a
        concurrent :meth:`write_consistent` (of any process or language).

        On x86-64 this takes no lock: it loads ``write_seq``, copies, loads
        it again and keeps the copy when both are the same even value,
        retrying otherwise (backing off 50 µs doubling up to 5 ms while a
        writer holds the lock). On other architectures it holds a read lock
        (``F_RDLCK`` on the write lock's byte, which excludes writers)
        around the copy, since Python cannot issue the fences the lock-free
        steps need there (docs/SYNC.md, *Memory ordering*).

        Raises:
            InvalidRegionError: ``write_seq`` is odd and nobody holds the
                write lock: "a writer died during a write; the bytes are
                incomplete" (``details``: ``reason="writer_died"``,
                ``write_seq``). A later :meth:`write_consistent` repairs it.
            LockTimeoutError: no consistent copy within ``timeout_s``
                (writers kept the region busy).
            RegionUsageError: the range leaves the payload, the region is
                closed, or ``timeout_s`` is invalid.
            AddressSpaceError: windowed, and not even one granule maps.
            LockUnsupportedError: no cross-process locks on this platform
                (macOS, Windows).
            PlatformError: ``fcntl`` failed (``platform_error``).
        """
        return self.read_snapshot(offset, length, timeout_s).data

    def read_snapshot(self, offset: int, length: int,
                      timeout_s: float = DEFAULT_TIMEOUT_S) -> ReadResult:
        """:meth:`read_consistent`, also returning the even ``write_seq``
        the copy is consistent with and how many attempts were retried.

        Returns:
            :class:`~snakepit_shm.sync.ReadResult` ``(data, seq, retries)``.

        Raises:
            the same as :meth:`read_consistent`.
        """
        self._require_open()
        self._check_range(offset, length)
        timeout = self._timeout(timeout_s)
        self._require_locks("cannot read consistently (a reader must tell "
                            "a live writer from a dead one by its lock)")
        backoff = sync.Backoff(timeout)

        def copy() -> bytes:
            return self._copy_out(offset, length)

        try:
            if self._holds_write_lock():
                with self._seq_cell() as cell:
                    return sync.locked_read(cell, copy)
            if sync.LOCK_FREE_READS:
                return self._lock_free_read(copy, backoff)
            return self._locked_read(copy, backoff, timeout)
        except sync.WriterDied as died:
            raise InvalidRegionError(
                f"{self._descriptor.label()}: a writer died during a write; "
                f"the bytes are incomplete (write_seq {died.seq} is odd and "
                f"nobody holds the write lock)",
                remediation="write the bytes again with write_consistent "
                            "(it repairs the counter), or discard the "
                            "region's contents",
                reason="writer_died", write_seq=died.seq) from None
        except sync.NoSnapshot as busy:
            raise LockTimeoutError(
                f"{self._descriptor.label()}: no consistent read of {length} "
                f"bytes at payload offset {offset} within {timeout} s: "
                f"writers kept the region busy (write_seq {busy.seq}, "
                f"{busy.retries} retries)",
                remediation="retry later or pass a larger timeout_s; a "
                            "writer holding the write lock for long stalls "
                            "readers",
                timeout_s=timeout, lock_file_offset=self.lock_file_offset,
                write_seq=busy.seq, retries=busy.retries) from None

    def windows(self, window_bytes: Optional[int] = None
                ) -> Iterator[Tuple[int, View]]:
        """Iterate over the payload in successive windows.

        Yields ``(payload_offset, view)``: ``view`` is a memoryview of the
        payload bytes from ``payload_offset`` on (read-only for read_only
        regions), shared with the segment like :attr:`memoryview`. Window
        boundaries lie on multiples of :attr:`granule_bytes` in the segment
        file, hence on multiples of 64 bytes in the payload.

        In windowed mode each window is mapped for its step and unmapped
        when the iteration moves on (or stops); a window that fails with
        ENOMEM is retried at half the size. In full mode the views are
        slices of the existing mapping. A view is valid for its step only:
        copy what you need to keep. (Arrays or slices kept from it keep its
        mapping alive until they die; in full mode they make :meth:`close`
        report busy.)

        Args:
            window_bytes: largest window, rounded down to whole granules
                (at least one; see :attr:`granule_bytes`). None: the
                region's current window size in windowed mode, the whole
                payload as one view in full mode.

        Raises:
            RegionUsageError: the region is closed (also between steps) or
                ``window_bytes`` is not a positive int.
            AddressSpaceError: windowed, and not even one granule maps.
        """
        self._require_open()
        limit = (None if window_bytes is None else
                 self._geometry.whole_granules(
                     check_window_bytes(window_bytes, self._descriptor)))
        if self._mapper is not None:
            return self._mapped_windows(limit)
        return self._full_windows(limit)

    def check(self) -> RegionHeader:
        """Re-read the region header and check it still matches.

        Returns:
            the header as it is now.

        The region header's CRC-32 is verified as at attach, so a header
        overwritten since attach (a stray write) is detected here. The
        segment header is checked at attach only: after that the region
        depends on nothing in it.

        Raises:
            StaleDescriptorError: the region was freed or its block reused
                since attach.
            InvalidRegionError: the header is no longer a valid header: its
                CRC does not match (corrupt), the manager marked it invalid
                (state 3), or a field contradicts the descriptor.
            RegionUsageError: the region is closed.
        """
        self._require_open()
        if self._mapper is not None:
            return _read_region_header(self._mapper, self._descriptor)
        view = self._segment_view()
        header_at = region_header_offset(self._descriptor.offset)
        return _checked_region_header(
            lambda: parse_region_header(view, header_at), self._descriptor)

    # --- lifetime -----------------------------------------------------------

    def close(self) -> None:
        """Give the region back: its views end, the lock it holds is
        released, and when it was the last open region of its segment in
        this process, the segment is unmapped and its descriptor closed.
        Idempotent; never unlinks the segment file.

        Raises:
            RegionBusyError: numpy arrays or memoryviews obtained from this
                region are still alive. Nothing is released and the region
                stays usable: delete them (or copy what you need) and call
                ``close()`` again. (A windowed region is never busy: a window
                still viewed is unmapped when its last view dies.)
        """
        if self._closed:
            return
        payload, exporter = self._payload, self._exporter
        if payload is not None and exporter is not None:
            exporter.release()
            try:
                payload.release()
            except BufferError as exc:
                self._exporter = pickle.PickleBuffer(payload)
                raise RegionBusyError(
                    f"{self._descriptor.label()}: cannot close, numpy arrays "
                    "or memoryviews obtained from this region are still "
                    "alive",
                    remediation="delete them (del array) or copy the data "
                                "you need (array.copy(), bytes(view)), then "
                                "call close() again") from exc
        self._payload = self._exporter = None
        self._give_back()

    def __enter__(self) -> "Region":
        return self

    def __exit__(self, exc_type: Optional[Type[BaseException]],
                 exc: Optional[BaseException],
                 traceback: Optional[TracebackType]) -> None:
        """Close; a busy region raises RegionBusyError unless another
        exception is already propagating (then it is left to the garbage
        collector, which unmaps when the last view dies)."""
        try:
            self.close()
        except RegionBusyError:
            if exc_type is None:
                raise
            self._abandon()

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open"
        if self.windowed:
            state += f" windowed window_bytes={self.window_bytes}"
        return (f"<Region id={self.id} generation={self.generation} "
                f"size={self.size} access={self._descriptor.access} "
                f"path={self._descriptor.path} {state}>")

    # --- internals ----------------------------------------------------------

    def _require_open(self) -> None:
        if self._closed:
            raise RegionUsageError(
                f"{self._descriptor.label()}: the region is closed",
                remediation="attach the descriptor again")

    def _require_writable(self, what: str) -> None:
        if self.read_only:
            raise ReadOnlyRegionError(
                f"{self._descriptor.label()}: attached read_only, {what}",
                remediation="acquire the region with access: :read_write")

    def _give_back(self) -> None:
        """Mark closed and hand the segment reference back to the cache,
        which frees this region's lock claims (releasing the OFD lock)."""
        self._closed = True
        self._cache.release(self._segment, self._token)

    def __del__(self) -> None:
        """A region dropped without close(): its segment reference (and any
        lock it holds) goes back at the cache's next acquire or release."""
        try:
            if not self._closed:
                self._closed = True
                self._cache.defer_release(self._segment, self._token)
        except AttributeError:           # __init__ did not finish
            pass

    def _copy_out(self, offset: int, length: int) -> bytes:
        """Copy a checked payload range out (one memcpy when fully
        mapped)."""
        if self._mapper is not None:
            return read_span(self._mapper, self._descriptor.offset + offset,
                             length)
        payload = self._live_payload()
        return bytes(payload[offset:offset + length])

    def _copy_in(self, offset: int, raw: View) -> None:
        """Copy ``raw`` (format ``B``) into a checked payload range."""
        if self._mapper is not None:
            write_span(self._mapper, self._descriptor.offset + offset, raw)
            return
        payload = self._live_payload()
        payload[offset:offset + len(raw)] = raw

    @contextlib.contextmanager
    def _seq_cell(self) -> Iterator[SeqCell]:
        """``write_seq`` of this region: in the full mapping, or through a
        one-granule window of the header held for the ``with`` block."""
        self._require_open()
        header_at = region_header_offset(self._descriptor.offset)
        at = sync.WRITE_SEQ_HEADER_OFFSET
        if self._mapper is not None:
            with self._mapper.map(header_at,
                                  header_at + REGION_HEADER_BYTES) as window:
                with SeqCell(window.view[at:at + 4]) as cell:
                    yield cell
            return
        view = self._segment_view()
        at += header_at
        with SeqCell(view[at:at + 4]) as cell:
            yield cell

    def _timeout(self, timeout_s: Any) -> float:
        try:
            return sync.check_timeout(timeout_s)
        except ValueError as exc:
            raise RegionUsageError(
                f"{self._descriptor.label()}: {exc}",
                remediation=f"pass seconds, e.g. {DEFAULT_TIMEOUT_S}"
            ) from None

    def _lock_fd(self) -> int:
        """The segment's descriptor, which carries the OFD locks."""
        self._require_open()
        return self._segment.fd(self._descriptor)

    def _fcntl(self, call: Callable[[], Any]) -> Any:
        """Run an OFD lock call, typing its failures."""
        try:
            return call()
        except sync.Unsupported as exc:
            raise LockUnsupportedError(
                f"{self._descriptor.label()}: cannot lock the region: {exc}",
                remediation=LOCK_UNSUPPORTED_REMEDIATION) from None
        except OSError as exc:
            raise _os_error(exc, self._descriptor, "fcntl (OFD lock)") \
                from exc

    def _lock_timeout(self, timeout_s: float, holder: str
                      ) -> LockTimeoutError:
        what, remediation = sync.describe_lock(self.lock_file_offset)
        return LockTimeoutError(
            f"{self._descriptor.label()}: {what} was not taken within "
            f"{timeout_s} s: {holder} holds it",
            remediation=f"retry later or pass a larger timeout_s; "
                        f"{remediation}",
            timeout_s=timeout_s, lock_file_offset=self.lock_file_offset)

    def _claim(self, writing: bool, backoff: sync.Backoff,
               timeout_s: float) -> bool:
        """Claim the lock byte in the segment's table (other regions and
        threads of this process); see :meth:`ByteLocks.claim`."""
        try:
            return self._segment.locks.claim(
                self.lock_file_offset, self._token, writing,
                backoff.deadline)
        except LockBusy as busy:
            raise self._lock_timeout(timeout_s, busy.holder) from None

    def _unclaim(self, unlock: bool) -> None:
        """Count the claim down; at zero release the OFD lock first when
        ``unlock`` (it was taken)."""
        at = self.lock_file_offset

        def release_kernel_lock() -> None:
            fd = self._segment.existing_fd()
            if unlock and fd is not None:
                self._unlock(fd, at)

        self._segment.locks.unclaim(at, self._token, release_kernel_lock)

    def _unlock(self, fd: int, at: int) -> None:
        """Release this description's OFD lock on byte ``at``."""
        self._fcntl(lambda: sync.unlock(fd, at))

    def _require_locks(self, what: str) -> None:
        """Raise :class:`LockUnsupportedError` when the segment's opener
        has no cross-process locks (macOS, Windows)."""
        reason = self._segment.opener.locks_unsupported
        if reason is not None:
            raise LockUnsupportedError(
                f"{self._descriptor.label()}: {what}: {reason}",
                remediation=LOCK_UNSUPPORTED_REMEDIATION,
                open_by=self._segment.opener.open_by)

    def _acquire_write_lock(self, timeout_s: Any) -> None:
        """Take the write lock (reentrant for the holding thread): the
        lock byte in the segment's table, then the OFD lock."""
        self._require_open()
        self._require_writable("the write lock needs read_write access")
        self._require_locks("cannot take the region's write lock")
        timeout = self._timeout(timeout_s)
        backoff = sync.Backoff(timeout)
        if not self._claim(True, backoff, timeout):
            return                       # re-entered by the holding thread
        try:
            fd, at = self._lock_fd(), self.lock_file_offset
            if not self._fcntl(lambda: sync.lock_with_backoff(
                    fd, at, True, backoff)):
                raise self._lock_timeout(
                    timeout, "another process (or another open of the "
                             "segment file)")
        except BaseException:
            self._unclaim(unlock=False)
            raise

    def _release_write_lock(self) -> None:
        self._unclaim(unlock=True)

    def _holds_write_lock(self) -> bool:
        """True when the calling thread holds this Region's write lock."""
        return self._segment.locks.holds(self.lock_file_offset, self._token)

    def _other_thread_writing(self) -> bool:
        """True when another thread, or another region of this process,
        holds the write lock (through the shared open file description,
        which F_OFD_GETLK would not report)."""
        return self._segment.locks.writer_other_than(self.lock_file_offset,
                                                     self._token)

    def _lock_free_read(self, copy: Callable[[], bytes],
                        backoff: sync.Backoff) -> ReadResult:
        at = self.lock_file_offset

        def writer_active() -> bool:
            if self._other_thread_writing():
                return True
            fd = self._lock_fd()
            return bool(self._fcntl(
                lambda: sync.write_locked_elsewhere(fd, at)))

        with self._seq_cell() as cell:
            return sync.seq_read(cell, copy, writer_active, backoff)

    def _locked_read(self, copy: Callable[[], bytes], backoff: sync.Backoff,
                     timeout_s: float) -> ReadResult:
        """The fallback: hold F_RDLCK on the lock byte around the copy
        (claimed in the segment's table first, since the description is
        shared)."""
        self._claim(False, backoff, timeout_s)
        locked = False
        try:
            fd, at = self._lock_fd(), self.lock_file_offset
            if not self._fcntl(lambda: sync.lock_with_backoff(
                    fd, at, False, backoff)):
                raise self._lock_timeout(timeout_s, "a writer")
            locked = True
            with self._seq_cell() as cell:
                return sync.locked_read(cell, copy)
        finally:
            self._unclaim(unlock=locked)

    def _live_payload(self) -> View:
        """The payload slice of the segment mapping (not exported)."""
        self._require_open()
        payload = self._payload
        if payload is None:
            raise RegionUsageError(
                f"{self._descriptor.label()}: the region is closed",
                remediation="attach the descriptor again")
        return payload

    def _segment_view(self) -> View:
        """The whole segment mapping (for the region header)."""
        self._live_payload()
        view = self._segment.view
        assert view is not None          # mapped while a region views it
        return view

    def _full_view(self, what: str) -> pickle.PickleBuffer:
        """The exporter of the payload views, or AddressSpaceError when
        windowed."""
        self._require_open()
        if self._mapper is not None:
            raise AddressSpaceError(
                f"{self._descriptor.label()}: {what} needs the whole payload "
                f"of {self.size} bytes mapped at once, but the region is "
                f"windowed: {self._windowed_reason}",
                remediation="iterate region.windows() (numpy.frombuffer on "
                            "each view) or copy ranges with region.read()/"
                            "region.write(); or raise the address-space limit"
                            " (ulimit -v, RLIMIT_AS) and attach again without"
                            " max_window_bytes",
                space="address", requested_bytes=self.size,
                window_bytes=self._mapper.window_bytes,
                rlimit_as_bytes=address_space_limit_bytes())
        exporter = self._exporter
        if exporter is None:
            raise RegionUsageError(
                f"{self._descriptor.label()}: the region is closed",
                remediation="attach the descriptor again")
        return exporter

    def _full_windows(self, limit: Optional[int]
                      ) -> Iterator[Tuple[int, View]]:
        """Slices of the whole mapping, aligned like mapped windows."""
        base = self._descriptor.offset
        position = 0
        while position < self.size:
            end = (self.size if limit is None else
                   min(self._geometry.floor(base + position) + limit - base,
                       self.size))
            whole = memoryview(self._full_view("windows()"))
            view = whole[position:end]
            try:
                yield position, view
            finally:
                for done in (view, whole):
                    try:
                        done.release()
                    except BufferError:
                        pass             # still exported: close() says busy
            position = end

    def _mapped_windows(self, limit: Optional[int]
                        ) -> Iterator[Tuple[int, View]]:
        """Map, yield and unmap one window after the other."""
        mapper = self._mapper
        assert mapper is not None
        base = self._descriptor.offset
        file_end = base + self.size
        position = base
        while position < file_end:
            self._require_open()
            step = mapper.window_bytes if limit is None else limit
            span_end = min(mapper.geometry.floor(position) + step, file_end)
            with mapper.map(position, span_end) as window:
                yield position - base, window.view
                position = window.file_end

    def _check_range(self, offset: int, length: int) -> None:
        if (isinstance(offset, bool) or isinstance(length, bool)
                or not isinstance(offset, int) or not isinstance(length, int)
                or offset < 0 or length < 0 or offset + length > self.size):
            raise RegionUsageError(
                f"{self._descriptor.label()}: range offset={offset} "
                f"length={length} is outside the payload of {self.size} bytes",
                remediation="keep offset >= 0 and offset + length <= size")

    def _abandon(self) -> None:
        """Drop our references; the views keep the segment mapping alive
        until the last of them dies (the cache forgets it now)."""
        self._payload = self._exporter = None
        self._give_back()


def _checked_region_header(read: Callable[[], RegionHeader],
                           desc: Descriptor) -> RegionHeader:
    """Read the region header with ``read``, check it and return it.

    A live header whose CRC does not match is read once more before it is
    called corrupt: the manager may have freed the block and started
    rewriting it for another region between our read of ``state`` and our
    read of the fields (a torn read). The second read then says freed or
    holds the new region, and the descriptor is reported stale.
    """
    header = read()
    if not header.crc_ok and header.state == REGION_STATE_LIVE:
        header = read()
    check_region_header(header, desc)
    return header


def _read_region_header(mapper: WindowMapper, desc: Descriptor
                        ) -> RegionHeader:
    """Map the granule holding the region header, parse and check it (CRC
    included)."""
    header_at = region_header_offset(desc.offset)
    with mapper.map(header_at, header_at + REGION_HEADER_BYTES) as window:
        return _checked_region_header(
            lambda: parse_region_header(window.view, 0), desc)

"""Attach to a region by descriptor: ``mmap`` of the segment file, zero-copy.

The segment file at ``descriptor["path"]`` is opened with ``os.open``
(``O_NOFOLLOW|O_CLOEXEC``; ``O_RDONLY`` for read_only access, ``O_RDWR``
otherwise) and only the window from the granule holding the region header
to the payload's last byte is mapped with ``MAP_SHARED``. Writes through the
view are writes to the segment: every process mapping it sees them.

The granule is ``mmap.ALLOCATIONGRANULARITY`` on tmpfs and the huge page
size when the segment lives on hugetlbfs; there mappings also end on a huge
page boundary (:mod:`snakepit_shm.geometry`). The file is only ever read
with ``pread`` (the segment header) and written through mappings, never with
``pwrite``, which hugetlbfs refuses.

When that mapping fails for lack of address space (ENOMEM, e.g. a lowered
``RLIMIT_AS``), the region falls back to *windowed* mode instead of failing:
it logs a warning on the ``snakepit_shm`` logger, keeps the file descriptor
and maps only the window each ``read``/``write``/``windows()`` step needs
(see :mod:`snakepit_shm.windows`). ``attach(..., max_window_bytes=N)``
asks for windowed mode up front. A windowed region has no full view:
``memoryview`` and ``numpy()`` raise :class:`AddressSpaceError`.

This module never unlinks anything and never uses
``multiprocessing.shared_memory``, whose resource tracker unlinks segments it
merely attached to when the process exits (cpython#82300). Closing a
:class:`Region` or exiting the process only unmaps; the manager owns the file.

Every Region keeps its own descriptor of the segment file open until
``close()``: it carries the region's cross-process write lock (an
open-file-description lock, docs/SYNC.md), and in windowed mode it is also
what windows are mapped from. ``write_consistent``/``read_consistent``
follow the protocol of docs/SYNC.md (:mod:`snakepit_shm.sync`); plain
``write``/``read`` do not synchronize (single-writer data).

Thread safety: a :class:`Region` may be read and written from several threads
(it adds no locking around payload bytes; the write lock excludes other
threads using the same Region too), but ``close()`` must not race with
other calls on the same Region.
"""

from __future__ import annotations

import contextlib
import errno
import mmap
import os
import stat
import threading
from types import TracebackType
from typing import (Any, Callable, Iterator, Mapping, Optional, Sequence,
                    Tuple, Type, Union)

from . import sync

from .checks import check_region_header, check_segment_header
from .descriptor import Descriptor, parse_descriptor
from .errors import (AddressSpaceError, InvalidRegionError,
                     LockTimeoutError, ReadOnlyRegionError, RegionBusyError,
                     RegionUsageError, ShmError)
from .geometry import MapGeometry, file_geometry
from .layout import (REGION_HEADER_BYTES, REGION_STATE_LIVE,
                     SEGMENT_HEADER_BYTES, RegionHeader, SegmentHeader,
                     parse_region_header, parse_segment_header,
                     region_header_offset)
from .oserrors import address_space_limit_bytes, errno_name, os_error
from .sync import DEFAULT_TIMEOUT_S, ReadResult, SeqCell
from .windows import (DEFAULT_WINDOW_BYTES, LOG, WindowMapper,
                      check_window_bytes, read_span, write_span)

_os_error = os_error
"""Kept under its old name for callers of this module."""

BytesLike = Union[bytes, bytearray, memoryview]

NUMPY_MISSING_MESSAGE = (
    "numpy is not installed, so Region.numpy() is unavailable; install it "
    "(pip install 'snakepit-shm[numpy]') or use Region.memoryview, which "
    "needs only the standard library")


def attach(descriptor: Mapping[str, Any],
           max_window_bytes: Optional[int] = None) -> "Region":
    """Map the payload a descriptor names and return it as a :class:`Region`.

    Args:
        descriptor: the map the manager returned (CONTRACT section 3): keys
            id, generation, segment, path, offset, size, access, tenant,
            session.
        max_window_bytes: None (default) maps the whole payload, falling
            back to windowed mode with a warning if that fails with ENOMEM.
            A byte count forces windowed mode with windows of at most that
            many bytes (rounded down to whole granules of the file, at least
            one: ``mmap.ALLOCATIONGRANULARITY`` on tmpfs, the huge page size
            on hugetlbfs), for a bounded address-space footprint.

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
        ShmError: any other OS failure (code ``platform_error``).
    """
    desc = parse_descriptor(descriptor)
    if max_window_bytes is not None:
        check_window_bytes(max_window_bytes, desc, "max_window_bytes")
    fd = _open_segment(desc)
    try:
        segment_header, geometry = _read_segment_header(fd, desc)
        if max_window_bytes is not None:
            window_bytes = geometry.whole_granules(max_window_bytes)
            return Region._map_windowed(
                fd, desc, segment_header, geometry, window_bytes,
                reason=f"it was attached with max_window_bytes="
                       f"{max_window_bytes}, which bounds its address use to "
                       f"windows of {window_bytes} bytes")
        return Region._map(fd, desc, segment_header, geometry)
    except BaseException:
        os.close(fd)                     # on success the Region owns it
        raise


class Region:
    """One attached region: a shared mapping of exactly its payload bytes.

    Obtain one with :func:`attach`. Use it as a context manager or call
    :meth:`close`. ``memoryview`` and ``numpy()`` are views, not copies.

    A *windowed* region (``windowed`` is True) holds no mapping between
    calls: ``read``, ``write``, ``windows()`` and ``check()`` map what they
    need and unmap it again; ``memoryview`` and ``numpy()`` raise
    :class:`AddressSpaceError`.

    Several processes (or threads) writing one region, or reading it while
    it is written, use :meth:`write_lock`, :meth:`write_consistent` and
    :meth:`read_consistent` (docs/SYNC.md).
    """

    def __init__(self, *, descriptor: Descriptor, fd: int,
                 mapping: Optional[mmap.mmap], map_offset: int,
                 segment_header: SegmentHeader, region_header: RegionHeader,
                 geometry: MapGeometry,
                 mapper: Optional[WindowMapper] = None,
                 windowed_reason: Optional[str] = None) -> None:
        """Internal: use :func:`attach`. Pass either ``mapping`` (full
        mode) or ``mapper`` (windowed mode, whose ``fd`` is ``fd``). The
        Region owns ``fd`` and closes it in :meth:`close`."""
        self._descriptor = descriptor
        self._fd: Optional[int] = fd
        self._lock_guard = threading.RLock()
        """Excludes threads sharing this Region (they share its open file
        description, which OFD locks do not tell apart)."""
        self._lock_depth = 0
        self._lock_owner: Optional[int] = None
        self._mmap: Optional[mmap.mmap] = mapping
        self._window: Optional[memoryview] = (
            None if mapping is None else memoryview(mapping))
        self._mapper = mapper
        self._geometry = geometry
        self._windowed_reason = windowed_reason
        self._closed = False
        self._map_offset = map_offset
        self._map_length = 0 if mapping is None else len(mapping)
        self._start = descriptor.offset - map_offset
        self._segment_header = segment_header
        self._region_header = region_header

    @classmethod
    def _map(cls, fd: int, desc: Descriptor, segment_header: SegmentHeader,
             geometry: MapGeometry) -> "Region":
        """Map the window of ``fd`` holding the region header and payload;
        on ENOMEM fall back to windowed mode (logged as a warning)."""
        header_at = region_header_offset(desc.offset)
        map_offset = geometry.floor(header_at)
        length = geometry.map_length(map_offset, desc.offset + desc.size)
        access = mmap.ACCESS_READ if desc.read_only else mmap.ACCESS_WRITE
        try:
            mapping = mmap.mmap(fd, length, access=access, offset=map_offset)
        except OSError as exc:
            if exc.errno != errno.ENOMEM:
                raise _os_error(exc, desc, "mmap") from exc
            region = cls._map_windowed(
                fd, desc, segment_header, geometry,
                geometry.whole_granules(DEFAULT_WINDOW_BYTES),
                reason=f"mapping all {length} bytes failed with "
                       f"{errno_name(exc.errno)}, the full view does not fit "
                       f"this process's address space")
            limit = address_space_limit_bytes()
            LOG.warning(
                "%s: mapping the whole region (%d bytes from file offset %d) "
                "failed with %s (errno %d: %s; RLIMIT_AS %s%s); mapping "
                "windows of at most %d bytes instead (Region.windowed: use "
                "windows(), read(), write(); memoryview and numpy() are "
                "unavailable)",
                desc.label(), length, map_offset, errno_name(exc.errno),
                exc.errno, exc.strerror,
                "unlimited" if limit is None else f"{limit} bytes",
                geometry.enomem_hint, region.window_bytes)
            return region
        header_in_window = header_at - map_offset

        def read_header() -> RegionHeader:
            with memoryview(mapping) as window:
                return parse_region_header(window, header_in_window)

        try:
            region_header = _checked_region_header(read_header, desc)
        except BaseException:
            mapping.close()
            raise
        return cls(descriptor=desc, fd=fd, mapping=mapping,
                   map_offset=map_offset, segment_header=segment_header,
                   region_header=region_header, geometry=geometry)

    @classmethod
    def _map_windowed(cls, fd: int, desc: Descriptor,
                      segment_header: SegmentHeader, geometry: MapGeometry,
                      window_bytes: int, reason: str) -> "Region":
        """Keep ``fd`` (the returned Region owns it; on failure the caller
        still does) and check the region header through a one-granule
        window; no mapping outlives this call. ``window_bytes`` is whole
        granules of ``geometry``."""
        mapper = WindowMapper(fd, desc, window_bytes, geometry)
        region_header = _read_region_header(mapper, desc)
        map_offset = geometry.floor(region_header_offset(desc.offset))
        return cls(descriptor=desc, fd=fd, mapping=None,
                   map_offset=map_offset, segment_header=segment_header,
                   region_header=region_header, geometry=geometry,
                   mapper=mapper, windowed_reason=reason)

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
        """File offset where the mapping starts (a multiple of
        :attr:`granule_bytes`, at or before the region header)."""
        return self._map_offset

    @property
    def map_length_bytes(self) -> int:
        """Length of the mapping in bytes: it ends at the payload's end
        (on hugetlbfs at the end of the huge page holding it); 0 for a
        windowed region, which holds no mapping between calls."""
        return self._map_length

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
    def memoryview(self) -> memoryview:
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
        window = self._full_window("memoryview")
        return window[self._start:self._start + self.size]

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
        self._full_window("numpy()")
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
        array = numpy.frombuffer(self.memoryview, dtype=item)
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
        Region. The kernel releases it when the block ends, when the region
        is closed, and when the process dies (``kill -9`` included). It is
        reentrant for the thread holding it: :meth:`write_consistent` inside
        the block neither waits nor releases it.

        Taking it tries ``F_OFD_SETLK`` and, while another holder has it,
        backs off 50 µs doubling up to 5 ms until ``timeout_s`` (0: a
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
            ShmError: no OFD locks on this platform, or ``fcntl`` failed
                (code ``platform_error``).
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
            ShmError: ``fcntl`` failed (``platform_error``).
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
            ShmError: ``fcntl`` failed (``platform_error``).
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
                ) -> Iterator[Tuple[int, memoryview]]:
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
        window = self._live_window()
        header_in_window = (region_header_offset(self._descriptor.offset)
                            - self._map_offset)
        return _checked_region_header(
            lambda: parse_region_header(window, header_in_window),
            self._descriptor)

    # --- lifetime -----------------------------------------------------------

    def close(self) -> None:
        """Unmap the region. Idempotent; never unlinks the segment file.

        Raises:
            RegionBusyError: numpy arrays or memoryviews obtained from this
                region are still alive. Nothing is unmapped and the region
                stays usable: delete them (or copy what you need) and call
                ``close()`` again. (A windowed region is never busy: a window
                still viewed is unmapped when its last view dies.)
        """
        if self._closed:
            return
        if self._mapper is not None:
            self._closed = True
            self._close_fd()
            return
        mapping = self._mmap
        assert mapping is not None
        if self._window is not None:
            self._window.release()
            self._window = None
        try:
            mapping.close()
        except BufferError as exc:
            self._window = memoryview(mapping)
            raise RegionBusyError(
                f"{self._descriptor.label()}: cannot unmap, numpy arrays or "
                "memoryviews obtained from this region are still alive",
                remediation="delete them (del array) or copy the data you "
                            "need (array.copy(), bytes(view)), then call "
                            "close() again") from exc
        self._mmap = None
        self._closed = True
        self._close_fd()

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

    def _close_fd(self) -> None:
        """Close the segment descriptor (releasing any lock it holds)."""
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)

    def _copy_out(self, offset: int, length: int) -> bytes:
        """Copy a checked payload range out (one memcpy when fully
        mapped)."""
        if self._mapper is not None:
            return read_span(self._mapper, self._descriptor.offset + offset,
                             length)
        window = self._live_window()
        start = self._start + offset
        return bytes(window[start:start + length])

    def _copy_in(self, offset: int, raw: memoryview) -> None:
        """Copy ``raw`` (format ``B``) into a checked payload range."""
        if self._mapper is not None:
            write_span(self._mapper, self._descriptor.offset + offset, raw)
            return
        window = self._live_window()
        start = self._start + offset
        window[start:start + len(raw)] = raw

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
        window = self._live_window()
        at += header_at - self._map_offset
        with SeqCell(window[at:at + 4]) as cell:
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
        self._require_open()
        if self._fd is None:             # closed by a concurrent close()
            raise RegionUsageError(
                f"{self._descriptor.label()}: the region is closed",
                remediation="attach the descriptor again")
        return self._fd

    def _fcntl(self, call: Callable[[], Any]) -> Any:
        """Run an OFD lock call, typing its failures."""
        try:
            return call()
        except sync.Unsupported as exc:
            raise ShmError(
                f"{self._descriptor.label()}: cannot lock the region: {exc}",
                remediation="run on Linux with Python 3.9+ (64-bit); see "
                            "docs/SYNC.md") from None
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

    def _acquire_write_lock(self, timeout_s: Any) -> None:
        """Take the write lock (reentrant for the holding thread)."""
        self._require_open()
        self._require_writable("the write lock needs read_write access")
        timeout = self._timeout(timeout_s)
        backoff = sync.Backoff(timeout)
        if not self._lock_guard.acquire(
                timeout=min(timeout, threading.TIMEOUT_MAX)):
            raise self._lock_timeout(
                timeout, "another thread of this process (through the same "
                         "Region)")
        try:
            if self._lock_depth == 0:
                fd, at = self._lock_fd(), self.lock_file_offset
                if not self._fcntl(lambda: sync.lock_with_backoff(
                        fd, at, True, backoff)):
                    raise self._lock_timeout(
                        timeout, "another process, or another attach of the "
                                 "region,")
            self._lock_depth += 1
            self._lock_owner = threading.get_ident()
        except BaseException:
            self._lock_guard.release()
            raise

    def _release_write_lock(self) -> None:
        try:
            self._lock_depth -= 1
            if self._lock_depth == 0:
                self._lock_owner = None
                fd = self._fd
                if fd is not None:       # closing the fd already released it
                    self._fcntl(lambda: sync.unlock(
                        fd, self.lock_file_offset))
        finally:
            self._lock_guard.release()

    def _holds_write_lock(self) -> bool:
        """True when the calling thread holds this Region's write lock."""
        return (self._lock_depth > 0
                and self._lock_owner == threading.get_ident())

    def _other_thread_writing(self) -> bool:
        """True when another thread holds this Region's write lock (our own
        open file description: F_OFD_GETLK would not report it)."""
        return (self._lock_depth > 0
                and self._lock_owner != threading.get_ident())

    def _lock_free_read(self, copy: Callable[[], bytes],
                        backoff: sync.Backoff) -> ReadResult:
        fd, at = self._lock_fd(), self.lock_file_offset

        def writer_active() -> bool:
            return (self._other_thread_writing()
                    or self._fcntl(lambda: sync.write_locked_elsewhere(
                        fd, at)))

        with self._seq_cell() as cell:
            return sync.seq_read(cell, copy, writer_active, backoff)

    def _locked_read(self, copy: Callable[[], bytes], backoff: sync.Backoff,
                     timeout_s: float) -> ReadResult:
        """The fallback: hold F_RDLCK on the lock byte around the copy."""
        if not self._lock_guard.acquire(
                timeout=min(backoff.remaining_s(), threading.TIMEOUT_MAX)):
            raise self._lock_timeout(
                timeout_s, "another thread of this process (through the same "
                           "Region)")
        try:
            fd, at = self._lock_fd(), self.lock_file_offset
            if not self._fcntl(lambda: sync.lock_with_backoff(
                    fd, at, False, backoff)):
                raise self._lock_timeout(timeout_s, "a writer")
            try:
                with self._seq_cell() as cell:
                    return sync.locked_read(cell, copy)
            finally:
                self._fcntl(lambda: sync.unlock(fd, at))
        finally:
            self._lock_guard.release()

    def _live_window(self) -> memoryview:
        self._require_open()
        if self._window is None:
            raise RegionUsageError(
                f"{self._descriptor.label()}: the region is closed",
                remediation="attach the descriptor again")
        return self._window

    def _full_window(self, what: str) -> memoryview:
        """The whole mapping, or AddressSpaceError when windowed."""
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
        return self._live_window()

    def _full_windows(self, limit: Optional[int]
                      ) -> Iterator[Tuple[int, memoryview]]:
        """Slices of the whole mapping, aligned like mapped windows."""
        base = self._descriptor.offset
        position = 0
        while position < self.size:
            end = (self.size if limit is None else
                   min(self._geometry.floor(base + position) + limit - base,
                       self.size))
            window = self._live_window()
            view = window[self._start + position:self._start + end]
            try:
                yield position, view
            finally:
                try:
                    view.release()
                except BufferError:
                    pass                 # still exported: close() says busy
            position = end

    def _mapped_windows(self, limit: Optional[int]
                        ) -> Iterator[Tuple[int, memoryview]]:
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
        """Drop our references; the mapping goes when its last view dies."""
        if self._window is not None:
            self._window.release()
        self._window = None
        self._mmap = None
        self._closed = True
        self._close_fd()


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


def _open_segment(desc: Descriptor) -> int:
    flags = os.O_RDONLY if desc.read_only else os.O_RDWR
    flags |= getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        return os.open(desc.path, flags)
    except OSError as exc:
        raise _os_error(exc, desc, "open") from exc


def _read_segment_header(fd: int, desc: Descriptor
                         ) -> Tuple[SegmentHeader, MapGeometry]:
    """fstat the file, learn its mapping geometry and read its segment
    header with pread (offset 0 need not lie inside the mapped window;
    hugetlbfs supports pread, though not pwrite)."""
    try:
        info = os.fstat(fd)
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
        raw = os.pread(fd, SEGMENT_HEADER_BYTES, 0)
        geometry = file_geometry(fd, info.st_size)
    except OSError as exc:
        raise _os_error(exc, desc, "read") from exc
    header = parse_segment_header(raw)
    check_segment_header(header, desc, info.st_size)
    return header, geometry

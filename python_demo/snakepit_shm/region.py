"""Attach to a region by descriptor: ``mmap`` of the segment file, zero-copy.

The segment file at ``descriptor["path"]`` is opened with ``os.open``
(``O_NOFOLLOW|O_CLOEXEC``; ``O_RDONLY`` for read_only access, ``O_RDWR``
otherwise) and only the window from the page holding the region header to
the payload's last byte is mapped with ``MAP_SHARED``. Writes through the
view are writes to the segment: every process mapping it sees them.

This module never unlinks anything and never uses
``multiprocessing.shared_memory``, whose resource tracker unlinks segments it
merely attached to when the process exits (cpython#82300). Closing a
:class:`Region` or exiting the process only unmaps; the manager owns the file.

Thread safety: a :class:`Region` may be read and written from several threads
(it adds no locking around payload bytes), but ``close()`` must not race
with other calls on the same Region.
"""

from __future__ import annotations

import errno
import mmap
import os
import stat
from types import TracebackType
from typing import Any, Mapping, Optional, Sequence, Type, Union

from .checks import check_region_header, check_segment_header
from .descriptor import Descriptor, parse_descriptor
from .errors import (AccessDeniedError, InvalidRegionError,
                     ReadOnlyRegionError, RegionBusyError, RegionUsageError,
                     ShmError, StaleDescriptorError)
from .layout import (SEGMENT_HEADER_BYTES, RegionHeader, SegmentHeader,
                     parse_region_header, parse_segment_header,
                     region_header_offset)

BytesLike = Union[bytes, bytearray, memoryview]

NUMPY_MISSING_MESSAGE = (
    "numpy is not installed, so Region.numpy() is unavailable; install it "
    "(pip install 'snakepit-shm[numpy]') or use Region.memoryview, which "
    "needs only the standard library")


def attach(descriptor: Mapping[str, Any]) -> "Region":
    """Map the payload a descriptor names and return it as a :class:`Region`.

    Args:
        descriptor: the map the manager returned (CONTRACT section 3): keys
            id, generation, segment, path, offset, size, access, tenant,
            session.

    Raises:
        InvalidDescriptorError: the dict is malformed.
        StaleDescriptorError: the segment file is gone, or the region header
            says freed or names another id/generation.
        InvalidRegionError: the file is not a layout-1 segment holding this
            region (bad magic/layout, too short, symlink, not a file).
        AccessDeniedError: the OS refused to open the file.
        ShmError: any other OS failure (code ``platform_error``).
    """
    desc = parse_descriptor(descriptor)
    fd = _open_segment(desc)
    try:
        segment_header = _read_segment_header(fd, desc)
        return Region._map(fd, desc, segment_header)
    finally:
        os.close(fd)


class Region:
    """One attached region: a shared mapping of exactly its payload bytes.

    Obtain one with :func:`attach`. Use it as a context manager or call
    :meth:`close`. ``memoryview`` and ``numpy()`` are views, not copies.
    """

    def __init__(self, *, descriptor: Descriptor, mapping: mmap.mmap,
                 map_offset: int, segment_header: SegmentHeader,
                 region_header: RegionHeader) -> None:
        """Internal: use :func:`attach`."""
        self._descriptor = descriptor
        self._mmap: Optional[mmap.mmap] = mapping
        self._window: Optional[memoryview] = memoryview(mapping)
        self._map_offset = map_offset
        self._map_length = len(mapping)
        self._start = descriptor.offset - map_offset
        self._segment_header = segment_header
        self._region_header = region_header

    @classmethod
    def _map(cls, fd: int, desc: Descriptor,
             segment_header: SegmentHeader) -> "Region":
        """Map the window of ``fd`` holding the region header and payload."""
        header_at = region_header_offset(desc.offset)
        granularity = mmap.ALLOCATIONGRANULARITY
        map_offset = (header_at // granularity) * granularity
        length = desc.offset + desc.size - map_offset
        access = mmap.ACCESS_READ if desc.read_only else mmap.ACCESS_WRITE
        try:
            mapping = mmap.mmap(fd, length, access=access, offset=map_offset)
        except OSError as exc:
            raise _os_error(exc, desc, "mmap") from exc
        header_in_window = header_at - map_offset
        try:
            with memoryview(mapping) as window:
                region_header = parse_region_header(window, header_in_window)
            check_region_header(region_header, desc)
        except BaseException:
            mapping.close()
            raise
        return cls(descriptor=desc, mapping=mapping, map_offset=map_offset,
                   segment_header=segment_header, region_header=region_header)

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
        return self._mmap is None

    @property
    def segment_header(self) -> SegmentHeader:
        """The segment header as read at attach time."""
        return self._segment_header

    @property
    def region_header(self) -> RegionHeader:
        """The region header as read at attach time (see :meth:`check`)."""
        return self._region_header

    @property
    def map_offset_bytes(self) -> int:
        """File offset where the mapping starts (a multiple of the
        allocation granularity, at or before the region header)."""
        return self._map_offset

    @property
    def map_length_bytes(self) -> int:
        """Length of the mapping in bytes (it ends at the payload's end)."""
        return self._map_length

    @property
    def memoryview(self) -> memoryview:
        """A memoryview of exactly the payload: ``size`` bytes, format ``B``.

        Each access returns a new view over the same shared bytes. It is
        read-only (assignment raises ``TypeError``) when the region was
        attached read_only. Views keep the mapping alive: drop them before
        :meth:`close`.
        """
        window = self._live_window()
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
        """
        self._live_window()
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
        """
        window = self._live_window()
        self._check_range(offset, length)
        start = self._start + offset
        return bytes(window[start:start + length])

    def write(self, offset: int, data: BytesLike) -> int:
        """Copy ``data`` into the payload at payload ``offset``.

        Returns:
            the number of bytes written.

        Raises:
            ReadOnlyRegionError: the region was attached read_only.
            RegionUsageError: the range leaves the payload or the region is
                closed.
        """
        window = self._live_window()
        if self.read_only:
            raise ReadOnlyRegionError(
                f"{self._descriptor.label()}: attached read_only, "
                "writes are refused",
                remediation="acquire the region with access: :read_write")
        with memoryview(data) as source:
            with source.cast("B") as raw:
                self._check_range(offset, len(raw))
                start = self._start + offset
                window[start:start + len(raw)] = raw
                return len(raw)

    def check(self) -> RegionHeader:
        """Re-read the region header and check it still matches.

        Returns:
            the header as it is now.

        Raises:
            StaleDescriptorError: the region was freed or its block reused
                since attach.
            InvalidRegionError: the header is no longer a valid header.
            RegionUsageError: the region is closed.
        """
        window = self._live_window()
        header_at = region_header_offset(self._descriptor.offset)
        header = parse_region_header(window, header_at - self._map_offset)
        check_region_header(header, self._descriptor)
        return header

    # --- lifetime -----------------------------------------------------------

    def close(self) -> None:
        """Unmap the region. Idempotent; never unlinks the segment file.

        Raises:
            RegionBusyError: numpy arrays or memoryviews obtained from this
                region are still alive. Nothing is unmapped and the region
                stays usable: delete them (or copy what you need) and call
                ``close()`` again.
        """
        mapping = self._mmap
        if mapping is None:
            return
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
        return (f"<Region id={self.id} generation={self.generation} "
                f"size={self.size} access={self._descriptor.access} "
                f"path={self._descriptor.path} {state}>")

    # --- internals ----------------------------------------------------------

    def _live_window(self) -> memoryview:
        if self._window is None:
            raise RegionUsageError(
                f"{self._descriptor.label()}: the region is closed",
                remediation="attach the descriptor again")
        return self._window

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


def _open_segment(desc: Descriptor) -> int:
    flags = os.O_RDONLY if desc.read_only else os.O_RDWR
    flags |= getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        return os.open(desc.path, flags)
    except OSError as exc:
        raise _os_error(exc, desc, "open") from exc


def _read_segment_header(fd: int, desc: Descriptor) -> SegmentHeader:
    """fstat the file and read its segment header with pread (offset 0 need
    not lie inside the mapped window)."""
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
    except OSError as exc:
        raise _os_error(exc, desc, "read") from exc
    header = parse_segment_header(raw)
    check_segment_header(header, desc, info.st_size)
    return header


def _os_error(exc: OSError, desc: Descriptor, operation: str) -> ShmError:
    """Translate an OSError from open/fstat/pread/mmap into a typed error."""
    detail = f"{desc.label()}: {operation} failed: {exc.strerror or exc}"
    if exc.errno == errno.ENOENT:
        return StaleDescriptorError(
            f"{desc.label()}: segment file does not exist (the region's "
            "segment was released)",
            remediation="allocate or acquire a fresh descriptor",
            errno=exc.errno)
    if exc.errno == errno.ELOOP:
        return InvalidRegionError(
            f"{desc.label()}: path is a symbolic link, refused (O_NOFOLLOW)",
            remediation="use the descriptor's path unchanged",
            errno=exc.errno)
    if exc.errno in (errno.EACCES, errno.EPERM):
        return AccessDeniedError(
            detail,
            remediation="attach as the same OS user as the manager "
                        "(segments are mode 0600)",
            errno=exc.errno)
    remediation = None
    if exc.errno == errno.ENOMEM:
        remediation = "free address space or raise vm.max_map_count/ulimit -v"
    return ShmError(detail, remediation=remediation, errno=exc.errno)

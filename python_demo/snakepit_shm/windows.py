"""Windowed mapping: map only the part of a region that is needed.

When the whole mapping of a segment does not fit the process's address space
(``mmap`` fails with ENOMEM, typically under a lowered ``RLIMIT_AS``), or
the caller bounds its address use with ``attach(..., max_window_bytes=N)``,
a :class:`~snakepit_shm.region.Region` holds no mapping and maps one
*window* at a time from its segment's shared descriptor
(:mod:`snakepit_shm.segments`; on Windows from the section's name, see
:mod:`snakepit_shm.openers`): a span of the segment file that starts on a
multiple of the file's granule and is at most the window size long. The
granule is ``mmap.ALLOCATIONGRANULARITY`` on tmpfs and the huge page size
on hugetlbfs (see :mod:`snakepit_shm.geometry`, which also rounds mapping
lengths up to whole huge pages there). A window that itself fails with
ENOMEM is retried at half its length (rounded down to whole granules) until
it maps or is a single granule; the smaller size sticks for later windows.
Each retry is logged as a warning on the ``snakepit_shm`` logger.

Window boundaries are fixed in file space (multiples of the granule), so in
payload space they are multiples of 64 bytes: every window but the last holds
whole float64 items.
"""

from __future__ import annotations

import errno
import logging
import mmap
from types import TracebackType
from typing import Any, Callable, Optional, Type

from .descriptor import Descriptor
from .errors import AddressSpaceError, RegionUsageError
from .geometry import PAGE_GRANULE_BYTES, MapGeometry
from .oserrors import (ENOMEM_REMEDIATION, address_space_limit_bytes,
                       errno_name, os_error)

LOG = logging.getLogger("snakepit_shm")
"""The package's logger; windowed fallbacks and retries are warnings here."""

GRANULE_BYTES = PAGE_GRANULE_BYTES
"""The default granule, ``mmap.ALLOCATIONGRANULARITY`` (4096 on Linux);
files on hugetlbfs use their huge page size instead (see
:class:`~snakepit_shm.geometry.MapGeometry`)."""

DEFAULT_WINDOW_BYTES = 64 * 1024 * 1024
"""First window size after a full mapping failed with ENOMEM."""


def floor_granule(file_offset: int,
                  granule_bytes: int = GRANULE_BYTES) -> int:
    """``file_offset`` rounded down to a multiple of ``granule_bytes``."""
    return file_offset // granule_bytes * granule_bytes


def check_window_bytes(window_bytes: Any, desc: Descriptor,
                       name: str = "window_bytes") -> int:
    """``window_bytes`` itself if it is a positive int.

    Raises:
        RegionUsageError: not an int, or not positive.
    """
    if (isinstance(window_bytes, bool) or not isinstance(window_bytes, int)
            or window_bytes <= 0):
        raise RegionUsageError(
            f"{desc.label()}: {name} must be a positive int, got "
            f"{window_bytes!r}",
            remediation=f"pass a byte count, e.g. {DEFAULT_WINDOW_BYTES}; it "
                        f"is rounded down to whole granules of the segment "
                        f"file ({GRANULE_BYTES} bytes, the huge page size on "
                        f"hugetlbfs)")
    return window_bytes


def normalize_window_bytes(window_bytes: Any, desc: Descriptor,
                           name: str = "window_bytes",
                           granule_bytes: int = GRANULE_BYTES) -> int:
    """A positive int rounded down to whole granules, at least one granule.

    Raises:
        RegionUsageError: not an int, or not positive.
    """
    check_window_bytes(window_bytes, desc, name)
    return max(granule_bytes, floor_granule(window_bytes, granule_bytes))


def halve_window_bytes(window_bytes: int,
                       granule_bytes: int = GRANULE_BYTES) -> int:
    """Half of ``window_bytes`` in whole granules, at least one granule."""
    return max(granule_bytes, floor_granule(window_bytes // 2, granule_bytes))


class Window:
    """One mapped window; ``view`` is the requested span of it.

    ``close()`` releases the view and unmaps. If the caller still holds
    views or arrays derived from ``view``, the mapping cannot be unmapped
    now; it is then left to the garbage collector, which unmaps it when the
    last of them dies (views never dangle).
    """

    def __init__(self, mapping: mmap.mmap, map_offset: int, file_start: int,
                 file_end: int) -> None:
        """``mapping`` starts at file offset ``map_offset`` and covers at
        least ``[file_start, file_end)`` (on hugetlbfs it may reach further,
        to the end of a huge page)."""
        self._mapping: Optional[mmap.mmap] = mapping
        self._whole = memoryview(mapping)
        self.view: memoryview = self._whole[file_start - map_offset:
                                            file_end - map_offset]
        """The bytes of ``[file_start, file_end)`` of the segment file."""
        self.map_offset = map_offset
        self.file_start = file_start
        self.file_end = file_end

    def close(self) -> None:
        """Release the view and unmap (idempotent)."""
        mapping = self._mapping
        if mapping is None:
            return
        self._mapping = None
        try:
            self.view.release()
        except BufferError:
            pass                         # exported further; GC unmaps later
        self._whole.release()
        try:
            mapping.close()
        except BufferError:
            LOG.debug("window at file offset %d still viewed by the caller; "
                      "it is unmapped when the last view dies",
                      self.map_offset)

    def __enter__(self) -> "Window":
        return self

    def __exit__(self, exc_type: Optional[Type[BaseException]],
                 exc: Optional[BaseException],
                 traceback: Optional[TracebackType]) -> None:
        self.close()


MapRange = Callable[[int, int], mmap.mmap]
"""``map_range(length, offset)``: a new shared mapping of the segment
(read-only for read_only descriptors); raises ``OSError`` as ``mmap``
does. :meth:`~snakepit_shm.segments.Segment.map_range` is one."""


class WindowMapper:
    """Maps windows of one open segment, shrinking them on ENOMEM.

    Attributes:
        map_range: makes a mapping of the segment (from the descriptor or
            section its cache entry owns).
        window_bytes: the current largest window, a multiple of the granule;
            lowered for good when a window of that size fails with ENOMEM.
        geometry: the file's granule and mapping rules.
    """

    def __init__(self, map_range: MapRange, desc: Descriptor,
                 window_bytes: int, geometry: MapGeometry) -> None:
        """``window_bytes`` must already be whole granules of ``geometry``."""
        self.map_range = map_range
        self.window_bytes = window_bytes
        self.geometry = geometry
        self._desc = desc

    def map(self, file_start: int, file_end: int) -> Window:
        """Map a window beginning at ``file_start``.

        The window starts at ``file_start`` rounded down to a granule and
        ends at ``file_end`` or after ``window_bytes``, whichever is first;
        the returned window's ``view`` covers ``file_start`` up to that end
        (at least one byte when ``file_end > file_start``). On hugetlbfs the
        mapping behind it is rounded up to whole huge pages.

        Raises:
            AddressSpaceError: ENOMEM even for a single granule.
            ShmError: any other mmap failure (typed as at attach).
        """
        geometry = self.geometry
        map_offset = geometry.floor(file_start)
        while True:
            span = min(self.window_bytes, file_end - map_offset)
            length = geometry.map_length(map_offset, map_offset + span)
            try:
                mapping = self.map_range(length, map_offset)
            except OSError as exc:
                if exc.errno != errno.ENOMEM:
                    raise os_error(exc, self._desc, "mmap") from exc
                if span <= geometry.granule_bytes:
                    raise self._exhausted(exc, length) from exc
                smaller = halve_window_bytes(span, geometry.granule_bytes)
                LOG.warning(
                    "%s: mapping a window of %d bytes at file offset %d "
                    "failed with %s (%s%s); retrying with windows of %d "
                    "bytes", self._desc.label(), length, map_offset,
                    errno_name(exc.errno), exc.strerror,
                    geometry.enomem_hint, smaller)
                self.window_bytes = min(self.window_bytes, smaller)
                continue
            return Window(mapping, map_offset, file_start, map_offset + span)

    def _exhausted(self, exc: OSError, length: int) -> AddressSpaceError:
        return AddressSpaceError(
            f"{self._desc.label()}: cannot map even a window of {length} "
            f"bytes: the process's address space is exhausted "
            f"({errno_name(exc.errno)}: {exc.strerror})",
            remediation=ENOMEM_REMEDIATION + self.geometry.enomem_hint,
            space="address", errno=exc.errno, requested_bytes=length,
            rlimit_as_bytes=address_space_limit_bytes())


def read_span(mapper: WindowMapper, file_start: int, length: int) -> bytes:
    """Copy ``length`` bytes from ``file_start`` through as few windows as
    the window size allows (one copy when they fit one window)."""
    file_end = file_start + length
    parts = []
    position = file_start
    while position < file_end:
        with mapper.map(position, file_end) as window:
            parts.append(bytes(window.view))
            position = window.file_end
    if len(parts) == 1:
        return parts[0]
    return b"".join(parts)


def write_span(mapper: WindowMapper, file_start: int,
               raw: memoryview) -> None:
    """Copy ``raw`` (format ``B``) into the file at ``file_start``, one
    window at a time."""
    file_end = file_start + len(raw)
    position = file_start
    while position < file_end:
        with mapper.map(position, file_end) as window:
            done = position - file_start
            count = window.file_end - position
            window.view[:] = raw[done:done + count]
            position = window.file_end

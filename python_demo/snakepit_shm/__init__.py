"""snakepit-shm, Python side: attach to shared-memory regions by descriptor.

The manager (a Java node reached from Elixir) hands out descriptors; this
package maps the payload they name zero-copy with ``mmap``::

    from snakepit_shm import attach

    with attach(descriptor) as region:
        region.memoryview[:5] = b"hello"          # shared, no copy
        floats = region.numpy("<f8")              # numpy view, no copy
        del floats                                # before the region closes

It needs only the standard library; numpy is used when present. It never
unlinks segments and never uses ``multiprocessing.shared_memory``.

When the whole payload does not fit the address space (mmap fails with
ENOMEM), the region is *windowed*: a warning goes to the ``snakepit_shm``
logger and ``read``/``write``/``windows()`` map one window at a time::

    with attach(descriptor) as region:            # or max_window_bytes=N
        for offset, view in region.windows():
            digest.update(view)

Regions shared by several writers, or read while written, use the
cross-process protocol of docs/SYNC.md (an OFD write lock and a sequence
counter in the region header)::

    region.write_consistent(0, payload)           # locked, seq odd -> even
    data = region.read_consistent(0, len(payload))  # never a torn copy
    with region.write_lock(timeout_s=1.0):        # exclusive across processes
        ...

Regions of one segment share one mapping and one file descriptor per
access mode (:mod:`snakepit_shm.segments`); the last ``close()`` unmaps.
Segments are opened by path on Linux, by POSIX shm name on macOS and as
named sections on Windows (:mod:`snakepit_shm.openers`;
``attach(..., opener="path"|"name")`` or ``SNAKEPIT_SHM_OPEN_BY``).

Errors are typed, one class per contract error code (``NotFoundError``,
``BusyError``, ...), refined by local ones (``StaleDescriptorError``, ...);
``ShmError.from_reply(error_map)`` types the node's error maps the same way
(:mod:`snakepit_shm.errors`).
"""

from .descriptor import Descriptor, parse_descriptor
from .errors import (ERROR_CLASSES, AccessDeniedError, AddressSpaceError,
                     BusyError, ForbiddenError, InvalidDescriptorError,
                     InvalidRegionError, InvalidRequestError,
                     LimitExceededError, LockTimeoutError,
                     LockUnsupportedError, NoSpaceError,
                     NotFoundError, PlatformError, ReadOnlyRegionError,
                     RegionBusyError, RegionUsageError, ShmError,
                     ShmTimeoutError, StaleDescriptorError, from_reply)
from .layout import RegionHeader, SegmentHeader
from .openers import (OPEN_BY_ENV, PathOpener, PosixShmOpener,
                      SegmentOpener, WindowsSectionOpener)
from .region import Region, attach
from .segments import SegmentCache, default_cache
from .sync import ReadResult

__version__ = "0.1.0"

__all__ = [
    "AccessDeniedError",
    "AddressSpaceError",
    "BusyError",
    "Descriptor",
    "ERROR_CLASSES",
    "ForbiddenError",
    "InvalidDescriptorError",
    "InvalidRegionError",
    "InvalidRequestError",
    "LimitExceededError",
    "LockTimeoutError",
    "LockUnsupportedError",
    "OPEN_BY_ENV",
    "PathOpener",
    "PosixShmOpener",
    "SegmentOpener",
    "WindowsSectionOpener",
    "NoSpaceError",
    "NotFoundError",
    "PlatformError",
    "ReadOnlyRegionError",
    "ReadResult",
    "Region",
    "RegionBusyError",
    "RegionHeader",
    "RegionUsageError",
    "SegmentCache",
    "SegmentHeader",
    "ShmError",
    "ShmTimeoutError",
    "StaleDescriptorError",
    "attach",
    "default_cache",
    "from_reply",
    "parse_descriptor",
    "__version__",
]

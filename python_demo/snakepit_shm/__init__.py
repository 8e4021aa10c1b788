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
"""

from .descriptor import Descriptor, parse_descriptor
from .errors import (AccessDeniedError, AddressSpaceError,
                     InvalidDescriptorError, InvalidRegionError,
                     LockTimeoutError, ReadOnlyRegionError,
                     RegionBusyError, RegionUsageError, ShmError,
                     StaleDescriptorError)
from .layout import RegionHeader, SegmentHeader
from .region import Region, attach
from .sync import ReadResult

__version__ = "0.1.0"

__all__ = [
    "AccessDeniedError",
    "AddressSpaceError",
    "Descriptor",
    "InvalidDescriptorError",
    "InvalidRegionError",
    "LockTimeoutError",
    "ReadOnlyRegionError",
    "ReadResult",
    "Region",
    "RegionBusyError",
    "RegionHeader",
    "RegionUsageError",
    "SegmentHeader",
    "ShmError",
    "StaleDescriptorError",
    "attach",
    "parse_descriptor",
    "__version__",
]

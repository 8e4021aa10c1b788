"""Typed exceptions of the Python side.

Every exception carries ``code`` (one of the contract's error codes, as a
string: ``invalid_request``, ``not_found``, ``forbidden``, ``invalid_region``,
``platform_error``, ``busy``, ...), ``message`` and ``remediation``, like the
``{:error, %{code:, message:, remediation:}}`` maps on the Elixir side.

Which class for which failure (decided here, see README):

==========================  ==================  ===========================
class                       code                raised when
==========================  ==================  ===========================
``InvalidDescriptorError``  ``invalid_request``  the descriptor dict is
                                                 malformed (missing key,
                                                 wrong type, bad id, ...)
``StaleDescriptorError``    ``not_found``        the region was freed or its
                                                 block reused (header state
                                                 freed, other id or
                                                 generation), or the segment
                                                 file no longer exists
``InvalidRegionError``      ``invalid_region``   the file is not a valid
                                                 segment/region: a header
                                                 CRC-32 mismatch (corrupt
                                                 header), state 3 (marked
                                                 invalid by the manager),
                                                 bad magic,
                                                 unknown layout version,
                                                 inconsistent header, region
                                                 beyond the end of the file,
                                                 symlink or non-regular file
``ReadOnlyRegionError``     ``forbidden``        a write through a read_only
                                                 descriptor
``AccessDeniedError``       ``forbidden``        the OS refuses to open the
                                                 file (EACCES/EPERM)
``RegionBusyError``         ``busy``             ``close()`` while numpy
                                                 arrays or memoryviews still
                                                 reference the payload
``RegionUsageError``        ``invalid_request``  misuse of an attached region
                                                 (closed, out of bounds,
                                                 dtype/shape mismatch)
``AddressSpaceError``       ``no_space``         the process's address space
                                                 has no room: a full view
                                                 (``memoryview``, ``numpy()``)
                                                 of a windowed region, or not
                                                 even one allocation granule
                                                 could be mapped (ENOMEM)
``LockTimeoutError``        ``timeout``          the region's write lock
                                                 (or a consistent read) was
                                                 not obtained within the
                                                 caller's timeout
``ShmError``                ``platform_error``   any other OS failure
==========================  ==================  ===========================

``AddressSpaceError`` uses ``no_space`` (the contract's code for "the bytes
do not fit") rather than ``platform_error``: the remedy is the same kind, make
room or ask for less. Its message always says *address space* (not the shm
directory) and ``details["space"] == "address"`` tells the two apart.
"""

from __future__ import annotations

from typing import Any, Optional


class ShmError(Exception):
    """Base class: a failure with a contract error code.

    Attributes:
        code: the contract error code as a string, e.g. ``"not_found"``.
        message: what went wrong, naming the region and file.
        remediation: what the caller can do about it, or ``None``.
        details: extra keys that help (``errno``, ``expected``, ...).
    """

    default_code = "platform_error"

    def __init__(self, message: str, *, code: Optional[str] = None,
                 remediation: Optional[str] = None, **details: Any) -> None:
        super().__init__(message)
        self.code: str = code or self.default_code
        self.message: str = message
        self.remediation: Optional[str] = remediation
        self.details: dict[str, Any] = details

    def __str__(self) -> str:
        if self.remediation:
            return f"{self.message} (remediation: {self.remediation})"
        return self.message

    def to_dict(self) -> dict[str, Any]:
        """The error as a map shaped like the contract's error maps."""
        result: dict[str, Any] = {"code": self.code, "message": self.message,
                                  "remediation": self.remediation}
        result.update(self.details)
        return result


class InvalidDescriptorError(ShmError):
    """The descriptor dict is malformed (code ``invalid_request``)."""

    default_code = "invalid_request"


class StaleDescriptorError(ShmError):
    """The region the descriptor names is gone (code ``not_found``).

    Its header says freed, or carries another id or generation (the block was
    reused), or the segment file was removed.
    """

    default_code = "not_found"


class InvalidRegionError(ShmError):
    """No valid region at that place in the file (``invalid_region``).

    Also a corrupt header: a segment or region header whose CRC-32 does not
    match its bytes (``details``: ``header`` ``"segment"`` or
    ``"region"``, ``header_offset``, ``expected_crc32`` computed from the
    bytes, ``found_crc32`` stored), or a region the manager marked invalid
    (state 3, ``details["state"] == "invalid"``).
    """

    default_code = "invalid_region"


class ReadOnlyRegionError(ShmError):
    """A write through a read_only descriptor (code ``forbidden``)."""

    default_code = "forbidden"


class AccessDeniedError(ShmError):
    """The OS refused to open or map the segment file (code ``forbidden``)."""

    default_code = "forbidden"


class RegionBusyError(ShmError):
    """close() while exported buffers still use the mapping (code ``busy``)."""

    default_code = "busy"


class RegionUsageError(ShmError):
    """Misuse of an attached region (code ``invalid_request``)."""

    default_code = "invalid_request"


class AddressSpaceError(ShmError):
    """The mapping does not fit this process's address space (``no_space``).

    Raised by ``Region.memoryview`` and ``Region.numpy()`` on a windowed
    region (its payload was too large to map whole, or ``max_window_bytes``
    was given), and when not even one allocation granule can be mapped.
    ``details`` carries ``space="address"`` and, where known, ``errno``,
    ``requested_bytes`` and ``rlimit_as_bytes``.
    """

    default_code = "no_space"


class LockTimeoutError(ShmError):
    """The region's write lock, or a consistent read, was not obtained
    within the caller's timeout (code ``timeout``).

    Raised by ``Region.write_lock``, ``write_consistent`` (the lock is held
    by another process, another open of the segment, or another thread
    using the same Region) and ``read_consistent`` (writers kept the region
    busy). ``details`` carries ``timeout_s``, ``lock_file_offset`` and, for
    reads, ``write_seq`` and ``retries``. See docs/SYNC.md.
    """

    default_code = "timeout"

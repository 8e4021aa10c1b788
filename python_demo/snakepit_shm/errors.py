"""Typed exceptions of the Python side, one class per contract error code.

Every exception carries ``code`` (one of the contract's error codes, as a
string), ``message``, ``remediation`` and ``details``, like the
``{:error, %{code:, message:, remediation:}}`` maps the node and the Elixir
client return (CONTRACT section 4). ``ShmError.from_reply(error_map)``
turns such a map (as received from the node, e.g. relayed as JSON) into the
matching exception, so Python code handles the node's errors and its own
with the same ``except`` clauses.

**One class per node code.** Catch these to handle a code whatever raised
it (the node, or this package):

======================  ==================  ================================
class                   code                meaning (CONTRACT section 4)
======================  ==================  ================================
``InvalidRequestError``  ``invalid_request``  malformed request or misuse
``NotFoundError``        ``not_found``        no such region (freed, stale
                                              generation, unknown id)
``ForbiddenError``       ``forbidden``        not allowed (token, tenant,
                                              holder, read_only, OS access)
``LimitExceededError``   ``limit_exceeded``   a configured limit would be
                                              passed
``NoSpaceError``         ``no_space``         the bytes do not fit (shm
                                              directory, or here the
                                              address space)
``InvalidRegionError``   ``invalid_region``   the region is corrupt, marked
                                              invalid, or not a region
``ShmTimeoutError``      ``timeout``          not done within the time given
``PlatformError``        ``platform_error``   an OS call failed otherwise
``BusyError``            ``busy``             overloaded or in use, retry
======================  ==================  ================================

``ShmTimeoutError`` is not called ``TimeoutError`` so that it never shadows
the builtin. All of them derive from :class:`ShmError`.

**Local classes** (raised by this package only) refine a code class, so
``except NotFoundError`` also catches a stale descriptor detected locally:

==========================  ========================  =========================
class                       subclass of (code)        raised when
==========================  ========================  =========================
``InvalidDescriptorError``  ``InvalidRequestError``   the descriptor dict is
                                                      malformed (missing key,
                                                      wrong type, bad id, ...)
``RegionUsageError``        ``InvalidRequestError``   misuse of an attached
                                                      region (closed, out of
                                                      bounds, dtype/shape
                                                      mismatch, bad timeout)
``StaleDescriptorError``    ``NotFoundError``         the region was freed or
                                                      its block reused (header
                                                      state freed, other id or
                                                      generation), or the
                                                      segment file no longer
                                                      exists
``ReadOnlyRegionError``     ``ForbiddenError``        a write (or the write
                                                      lock) through a
                                                      read_only descriptor
``AccessDeniedError``       ``ForbiddenError``        the OS refuses to open
                                                      the file (EACCES/EPERM)
``AddressSpaceError``       ``NoSpaceError``          the process's address
                                                      space has no room: a full
                                                      view (``memoryview``,
                                                      ``numpy()``) of a
                                                      windowed region, or not
                                                      even one granule maps
                                                      (ENOMEM)
``LockTimeoutError``        ``ShmTimeoutError``       the region's write lock
                                                      (or a consistent read)
                                                      was not obtained within
                                                      the caller's timeout
``RegionBusyError``         ``BusyError``             ``close()`` while numpy
                                                      arrays or memoryviews
                                                      still reference the
                                                      payload
``LockUnsupportedError``    ``PlatformError``         the platform has no
                                                      cross-process region
                                                      locks (macOS, Windows):
                                                      ``write_lock``,
                                                      ``write_consistent``,
                                                      ``read_consistent``
==========================  ========================  =========================

``InvalidRegionError`` (a header CRC-32 mismatch, state 3, bad magic or
layout, inconsistent header, region beyond the end of the file, symlink or
non-regular file) and ``PlatformError`` (any other OS failure,
``details["errno"]``) are raised locally under their own names.

**From the node.** :meth:`ShmError.from_reply` (also :func:`from_reply`)
picks the class by ``code`` (:data:`ERROR_CLASSES`), with one refinement:
``not_found`` whose ``reason`` is ``freed`` or ``stale_generation`` (the
region the descriptor named is gone) becomes ``StaleDescriptorError``, the
class this package raises for the same situation; other ``not_found``
replies (``reason: unknown``, or none) are ``NotFoundError``. A code this
version does not know gives a plain ``ShmError`` keeping that code. Keys
other than ``code``, ``message`` and ``remediation`` go to ``details``.

``AddressSpaceError`` uses ``no_space`` (the contract's code for "the bytes
do not fit") rather than ``platform_error``: the remedy is the same kind, make
room or ask for less. Its message always says *address space* (not the shm
directory) and ``details["space"] == "address"`` tells the two apart.
"""

from __future__ import annotations

from typing import Any, Dict, Mapping, Optional, Type

NODE_ERROR_CODES = ("invalid_request", "not_found", "forbidden",
                    "limit_exceeded", "no_space", "invalid_region", "timeout",
                    "platform_error", "busy")
"""The contract's error codes (CONTRACT section 4), in its order."""

STALE_REASONS = frozenset({"freed", "stale_generation"})
"""``reason`` values of a node ``not_found`` that mean the descriptor is
stale (its region is gone), mapped to :class:`StaleDescriptorError`."""


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
        self.details: Dict[str, Any] = details

    def __str__(self) -> str:
        if self.remediation:
            return f"{self.message} (remediation: {self.remediation})"
        return self.message

    def to_dict(self) -> Dict[str, Any]:
        """The error as a map shaped like the contract's error maps."""
        result: Dict[str, Any] = {"code": self.code, "message": self.message,
                                  "remediation": self.remediation}
        result.update(self.details)
        return result

    @classmethod
    def from_reply(cls, reply: Mapping[str, Any]) -> "ShmError":
        """The typed exception for a node error map.

        Args:
            reply: ``{code, message, remediation, ...}`` as the node (or the
                Elixir client) returns it in ``{:error, map}``; ``code`` may
                be spelled ``"not_found"`` or ``":not_found"`` (bytes are
                decoded as UTF-8). Other keys become ``details``.

        Returns:
            an instance of the class :data:`ERROR_CLASSES` names for the
            code (``StaleDescriptorError`` for a ``not_found`` whose
            ``reason`` is ``freed`` or ``stale_generation``), or a plain
            ``ShmError`` carrying an unknown code. It is returned, not
            raised: ``raise ShmError.from_reply(error_map)``.

        Raises:
            InvalidRequestError: ``reply`` is not a mapping or has no
                usable ``code``.
        """
        return from_reply(reply)


class InvalidRequestError(ShmError):
    """Code ``invalid_request``: a malformed request, or misuse."""

    default_code = "invalid_request"


class NotFoundError(ShmError):
    """Code ``not_found``: no such region (``details["reason"]`` from the
    node: ``freed``, ``stale_generation`` or ``unknown``)."""

    default_code = "not_found"


class ForbiddenError(ShmError):
    """Code ``forbidden``: the caller may not do this (token, tenant,
    holder, operator key, read_only access, OS permissions)."""

    default_code = "forbidden"


class LimitExceededError(ShmError):
    """Code ``limit_exceeded``: a configured limit would be passed
    (``details`` from the node: ``limit``, ``requested``, ``current``)."""

    default_code = "limit_exceeded"


class NoSpaceError(ShmError):
    """Code ``no_space``: the bytes do not fit (the shm directory, or, for
    :class:`AddressSpaceError`, this process's address space)."""

    default_code = "no_space"


class InvalidRegionError(ShmError):
    """Code ``invalid_region``: no valid region at that place in the file.

    Also a corrupt header: a segment or region header whose CRC-32 does not
    match its bytes (``details``: ``header`` ``"segment"`` or
    ``"region"``, ``header_offset``, ``expected_crc32`` computed from the
    bytes, ``found_crc32`` stored), or a region the manager marked invalid
    (state 3, ``details["state"] == "invalid"``).
    """

    default_code = "invalid_region"


class ShmTimeoutError(ShmError):
    """Code ``timeout``: not done within the time allowed."""

    default_code = "timeout"


class PlatformError(ShmError):
    """Code ``platform_error``: an OS call failed in a way no other code
    describes (``details["errno"]`` where known)."""

    default_code = "platform_error"


class BusyError(ShmError):
    """Code ``busy``: overloaded or in use; retry later."""

    default_code = "busy"


class InvalidDescriptorError(InvalidRequestError):
    """The descriptor dict is malformed (code ``invalid_request``)."""


class StaleDescriptorError(NotFoundError):
    """The region the descriptor names is gone (code ``not_found``).

    Its header says freed, or carries another id or generation (the block was
    reused), or the segment file was removed. A node ``not_found`` whose
    reason is ``freed`` or ``stale_generation`` maps here too.
    """


class ReadOnlyRegionError(ForbiddenError):
    """A write through a read_only descriptor (code ``forbidden``)."""


class AccessDeniedError(ForbiddenError):
    """The OS refused to open or map the segment file (code ``forbidden``)."""


class RegionBusyError(BusyError):
    """close() while exported buffers still use the mapping (code ``busy``)."""


class RegionUsageError(InvalidRequestError):
    """Misuse of an attached region (code ``invalid_request``)."""


class AddressSpaceError(NoSpaceError):
    """The mapping does not fit this process's address space (``no_space``).

    Raised by ``Region.memoryview`` and ``Region.numpy()`` on a windowed
    region (its payload was too large to map whole, or ``max_window_bytes``
    was given), and when not even one allocation granule can be mapped.
    ``details`` carries ``space="address"`` and, where known, ``errno``,
    ``requested_bytes`` and ``rlimit_as_bytes``.
    """


class LockUnsupportedError(PlatformError):
    """The region's write lock (docs/SYNC.md) cannot exist on this
    platform (code ``platform_error``).

    Raised by ``Region.write_lock``, ``write_consistent`` and
    ``read_consistent`` when the segment was opened where no lock can be
    shared with the manager and other workers: on macOS the kernel refuses
    ``fcntl`` locks on POSIX shm descriptors, on Windows a section has no
    file locks. The message says which; the remediation: consistent
    access through the node (the Elixir client's ``write_consistent/5``,
    ``read_consistent/5``), or plain ``read``/``write`` with a single
    writer. ``details["open_by"]`` says how the segment was opened.
    """


class LockTimeoutError(ShmTimeoutError):
    """The region's write lock, or a consistent read, was not obtained
    within the caller's timeout (code ``timeout``).

    Raised by ``Region.write_lock``, ``write_consistent`` (the lock is held
    by another process, another attach of the region in this process, or
    another thread using the same Region) and ``read_consistent`` (writers
    kept the region busy). ``details`` carries ``timeout_s``,
    ``lock_file_offset`` and, for reads, ``write_seq`` and ``retries``. See
    docs/SYNC.md.
    """


ERROR_CLASSES: Dict[str, Type[ShmError]] = {
    "invalid_request": InvalidRequestError,
    "not_found": NotFoundError,
    "forbidden": ForbiddenError,
    "limit_exceeded": LimitExceededError,
    "no_space": NoSpaceError,
    "invalid_region": InvalidRegionError,
    "timeout": ShmTimeoutError,
    "platform_error": PlatformError,
    "busy": BusyError,
}
"""The class for each node error code (every code of CONTRACT section 4)."""


def error_class(code: str) -> Type[ShmError]:
    """The class for a contract error code (``":busy"`` works too);
    :class:`ShmError` for a code this version does not know."""
    return ERROR_CLASSES.get(normalize_code(code), ShmError)


def normalize_code(code: Any) -> str:
    """``code`` as a bare string: bytes decoded, a leading ``:`` (an
    Elixir atom as text) removed, surrounding blanks stripped.

    Raises:
        InvalidRequestError: ``code`` is not a non-empty str or bytes.
    """
    if isinstance(code, (bytes, bytearray)):
        code = bytes(code).decode("utf-8", errors="replace")
    if not isinstance(code, str) or not code.strip().lstrip(":"):
        raise InvalidRequestError(
            f"an error map needs a code (one of {', '.join(NODE_ERROR_CODES)}"
            f"), got {code!r}",
            remediation="pass the map of {:error, map} unchanged")
    return code.strip().lstrip(":")


def from_reply(reply: Mapping[str, Any]) -> ShmError:
    """The typed exception for a node error map; see
    :meth:`ShmError.from_reply`."""
    if not isinstance(reply, Mapping):
        raise InvalidRequestError(
            f"an error map must be a mapping with code, message and "
            f"remediation, got {type(reply).__name__}",
            remediation="pass the map of {:error, map} unchanged")
    code = normalize_code(reply.get("code"))
    message = reply.get("message")
    text = (message.decode("utf-8", errors="replace")
            if isinstance(message, (bytes, bytearray)) else message)
    if not isinstance(text, str) or not text:
        text = f"{code} (the error map carried no message)"
    remediation = reply.get("remediation")
    if isinstance(remediation, (bytes, bytearray)):
        remediation = bytes(remediation).decode("utf-8", errors="replace")
    if remediation is not None and not isinstance(remediation, str):
        remediation = str(remediation)
    details = {key: value for key, value in reply.items()
               if key not in ("code", "message", "remediation")}
    cls = error_class(code)
    reason = details.get("reason")
    if isinstance(reason, str) and cls is NotFoundError and \
            reason.lstrip(":") in STALE_REASONS:
        cls = StaleDescriptorError
    error = (ShmError(text, code=code, remediation=remediation)
             if cls is ShmError else cls(text, remediation=remediation))
    error.details = details          # any keys, not only identifiers
    return error

"""Cross-process synchronization of one region (docs/SYNC.md).

Two mechanisms, both at fixed places of the region header:

- the **write lock**: an open-file-description lock (``F_OFD_SETLK``,
  ``F_WRLCK``) on one byte of the segment file, the first byte of the
  region header (file offset ``offset - 64``). The kernel releases it when
  its descriptor is closed or its holder dies, ``kill -9`` included.
- the **sequence counter** ``write_seq`` (little-endian u32 at region
  header offset 60): even when no write is in progress, odd during one, or
  after a writer died during one. Writers make it odd, write, make it even;
  readers copy between two loads of it and keep the copy when both loads are
  equal and even.

This module holds the pieces that do not depend on how the region is mapped:
packing ``struct flock``, taking and testing the lock with back-off, and the
two halves of the seqlock over a :class:`SeqCell`. :class:`~snakepit_shm.
region.Region` combines them with its mappings.

Memory ordering: CPython has no atomics or fences. ``write_seq`` is read and
written as one aligned 4-byte access through ``memoryview.cast("I")``, each
a separate C call, so the interpreter performs the accesses in program
order. On x86-64 (TSO) that is enough for readers and writers
(:data:`LOCK_FREE_READS`); elsewhere readers take the lock for reads too
(``F_RDLCK`` on the same byte, which excludes writers).
"""

from __future__ import annotations

import errno
import math
import os
import platform
import struct
import sys
import time
from typing import Any, Callable, NamedTuple, Optional, Tuple

DEFAULT_TIMEOUT_S = 5.0
"""Default time a caller waits for the write lock or a consistent read."""

BACKOFF_START_S = 50e-6
"""First pause between attempts (50 µs); doubled after each one."""

BACKOFF_MAX_S = 5e-3
"""Longest pause between attempts (5 ms)."""

WRITE_SEQ_HEADER_OFFSET = 60
"""Offset of ``write_seq`` (u32) in the 64-byte region header."""

SEQ_MASK = 0xFFFFFFFF
"""``write_seq`` wraps at 2**32."""

TSO_MACHINES = ("x86_64", "AMD64")
"""``platform.machine()`` values whose memory model (TSO) keeps loads in
order with loads and stores with stores, so readers need no lock."""

LOCKED_READS_ENV = "SNAKEPIT_SHM_LOCKED_READS"
"""Set to ``1`` to use the locked-read fallback even on x86-64 (tests)."""

LOCK_FREE_READS: bool = (platform.machine() in TSO_MACHINES
                         and os.environ.get(LOCKED_READS_ENV) != "1")
"""True: readers follow the lock-free seqlock steps. False (not x86-64, or
``SNAKEPIT_SHM_LOCKED_READS=1``): readers hold ``F_RDLCK`` on the lock byte
around the copy. Read at each call, so tests may patch it."""

_FLOCK = struct.Struct("=hh4xqqi4x")
"""``struct flock`` of 64-bit glibc (x86-64 and aarch64 alike): short
l_type, short l_whence, padding, off_t l_start, off_t l_len, pid_t l_pid,
padding; 32 bytes."""

_LITTLE_ENDIAN = sys.byteorder == "little"


class Unsupported(Exception):
    """OFD locks are not available on this platform (the message says
    why)."""


def unsupported_reason() -> Optional[str]:
    """Why OFD locks cannot be used here, or None when they can."""
    if not sys.platform.startswith("linux"):
        return (f"open-file-description locks are Linux-only; this is "
                f"{sys.platform}")
    try:
        import fcntl
    except ImportError:                          # pragma: no cover
        return "the fcntl module is unavailable"
    if not hasattr(fcntl, "F_OFD_SETLK"):
        return "this Python's fcntl has no F_OFD_SETLK (needs 3.9+ on Linux)"
    if struct.calcsize("P") != 8:
        return "struct flock is packed for 64-bit Linux only"
    return None


def _fcntl() -> Any:
    reason = unsupported_reason()
    if reason is not None:
        raise Unsupported(reason)
    import fcntl
    return fcntl


def _flock(lock_type: int, file_offset: int) -> bytes:
    """A ``struct flock`` for one byte at ``file_offset``; ``l_pid`` must be
    0 for OFD locks (EINVAL otherwise)."""
    return _FLOCK.pack(lock_type, os.SEEK_SET, file_offset, 1, 0)


def try_lock(fd: int, file_offset: int, exclusive: bool) -> bool:
    """One non-blocking attempt at ``F_WRLCK`` (``exclusive``) or
    ``F_RDLCK`` on the byte at ``file_offset``.

    Returns:
        True when taken, False when another open file description holds a
        conflicting lock.

    Raises:
        OSError: any other failure (e.g. EBADF: a write lock on a read-only
            descriptor).
        Unsupported: no OFD locks here.
    """
    fcntl = _fcntl()
    kind = fcntl.F_WRLCK if exclusive else fcntl.F_RDLCK
    try:
        fcntl.fcntl(fd, fcntl.F_OFD_SETLK, _flock(kind, file_offset))
    except OSError as exc:
        if exc.errno in (errno.EAGAIN, errno.EACCES):
            return False
        raise
    return True


def unlock(fd: int, file_offset: int) -> None:
    """Release this descriptor's lock on the byte at ``file_offset``."""
    fcntl = _fcntl()
    fcntl.fcntl(fd, fcntl.F_OFD_SETLK, _flock(fcntl.F_UNLCK, file_offset))


def write_locked_elsewhere(fd: int, file_offset: int) -> bool:
    """True when another open file description holds a *write* lock on the
    byte at ``file_offset`` (``F_OFD_GETLK`` asked about a read lock, which
    only a write lock conflicts with; locks of ``fd`` itself never
    conflict)."""
    fcntl = _fcntl()
    raw = fcntl.fcntl(fd, fcntl.F_OFD_GETLK,
                      _flock(fcntl.F_RDLCK, file_offset))
    lock_type = _FLOCK.unpack(raw)[0]
    return bool(lock_type != fcntl.F_UNLCK)


def check_timeout(timeout_s: Any) -> float:
    """``timeout_s`` as a float if it is a finite number >= 0.

    Raises:
        ValueError: anything else (the caller turns it into a typed
            error).
    """
    if (isinstance(timeout_s, bool) or not isinstance(timeout_s, (int, float))
            or not math.isfinite(timeout_s) or timeout_s < 0):
        raise ValueError(f"timeout_s must be a finite number of seconds "
                         f">= 0, got {timeout_s!r}")
    return float(timeout_s)


class Backoff:
    """Pauses between attempts: 50 µs, doubling up to 5 ms, until a
    deadline."""

    def __init__(self, timeout_s: float) -> None:
        self.deadline = time.monotonic() + timeout_s
        self._pause_s = BACKOFF_START_S

    def remaining_s(self) -> float:
        """Seconds left before the deadline (0 when passed)."""
        return max(0.0, self.deadline - time.monotonic())

    def expired(self) -> bool:
        """True once the deadline has passed."""
        return time.monotonic() >= self.deadline

    def pause(self) -> bool:
        """Sleep the next pause (never past the deadline).

        Returns:
            False, without sleeping, when the deadline has already passed.
        """
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            return False
        time.sleep(min(self._pause_s, remaining))
        self._pause_s = min(self._pause_s * 2, BACKOFF_MAX_S)
        return True


def lock_with_backoff(fd: int, file_offset: int, exclusive: bool,
                      backoff: Backoff) -> bool:
    """Try the lock until it is taken (True) or ``backoff`` expires
    (False). At least one attempt is made, even with a zero timeout."""
    while True:
        if try_lock(fd, file_offset, exclusive):
            return True
        if not backoff.pause():
            return False


class SeqCell:
    """``write_seq`` of one region: one aligned 4-byte load or store per
    call, through ``memoryview.cast("I")`` (``struct`` with explicit
    little-endian order on a big-endian machine).

    Use as a context manager: it releases its views on exit, so the mapping
    it looks into can be unmapped.
    """

    def __init__(self, four_bytes: memoryview) -> None:
        """``four_bytes``: the 4 bytes of ``write_seq`` in a mapping."""
        self._bytes = four_bytes
        self._word: Optional[memoryview] = (
            four_bytes.cast("I") if _LITTLE_ENDIAN else None)

    def load(self) -> int:
        """The counter's current value."""
        if self._word is not None:
            return int(self._word[0])
        return int(struct.unpack_from("<I", self._bytes)[0])

    def store(self, value: int) -> None:
        """Set the counter (modulo 2**32)."""
        if self._word is not None:
            self._word[0] = value & SEQ_MASK
        else:
            struct.pack_into("<I", self._bytes, 0, value & SEQ_MASK)

    def release(self) -> None:
        """Release the views (idempotent)."""
        if self._word is not None:
            self._word.release()
        self._bytes.release()

    def __enter__(self) -> "SeqCell":
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.release()


class WriteResult(NamedTuple):
    """What :func:`seq_write` did."""

    seq: int
    """``write_seq`` after the write (even)."""
    repaired_seq: Optional[int]
    """The odd value found before the write (a writer had died during a
    write), or None."""


def seq_write(cell: SeqCell, write_payload: Callable[[], None]
              ) -> WriteResult:
    """The writer's steps; the caller holds the write lock.

    1. ``s = load``, ``odd = s | 1`` (``s`` odd: a writer died mid-write,
       this write repairs the counter);
    2. ``store(odd)`` (on x86-64 stores stay in order: no fence needed);
    3. write the payload;
    4. ``store(odd + 1)``, even.
    """
    start = cell.load()
    odd = start | 1
    cell.store(odd)
    write_payload()
    even = (odd + 1) & SEQ_MASK
    cell.store(even)
    return WriteResult(even, start if start & 1 else None)


class ReadResult(NamedTuple):
    """A consistent copy and how it was obtained."""

    data: bytes
    """The bytes, as written by one complete write (or by none)."""
    seq: int
    """The even ``write_seq`` the copy is consistent with."""
    retries: int
    """Attempts that found a write in progress or overlapping the copy."""


class WriterDied(Exception):
    """``write_seq`` is odd and no writer holds the lock: a writer died
    during a write. ``seq`` is the odd value."""

    def __init__(self, seq: int) -> None:
        super().__init__(seq)
        self.seq = seq


class NoSnapshot(Exception):
    """No consistent copy before the deadline. ``seq`` is the last value
    seen, ``retries`` the attempts made."""

    def __init__(self, seq: int, retries: int) -> None:
        super().__init__(seq, retries)
        self.seq = seq
        self.retries = retries


def seq_read(cell: SeqCell, copy: Callable[[], bytes],
             writer_active: Callable[[], bool],
             backoff: Backoff) -> ReadResult:
    """The lock-free reader's steps.

    1. ``s1 = load``. Odd: if ``writer_active()`` (someone holds the write
       lock), back off and retry; if not, load again: still ``s1`` means the
       writer that made it odd released the lock without making it even, so
       it died (a live writer stores the even value *before* unlocking).
    2. Copy.
    3. ``s2 = load``; ``s1 == s2`` keeps the copy, otherwise retry at once.

    Raises:
        WriterDied: odd, nobody holds the write lock.
        NoSnapshot: the deadline passed first.
    """
    retries = 0
    while True:
        first = cell.load()
        if first & 1:
            if not writer_active() and cell.load() == first:
                raise WriterDied(first)
            retries += 1
            if not backoff.pause():
                raise NoSnapshot(first, retries)
            continue
        data = copy()
        if cell.load() == first:
            return ReadResult(data, first, retries)
        retries += 1
        if backoff.expired():
            raise NoSnapshot(first, retries)


def locked_read(cell: SeqCell, copy: Callable[[], bytes]) -> ReadResult:
    """The reader's steps while it holds ``F_RDLCK`` (or the write lock):
    no writer can be active, so an odd counter means a dead one.

    Raises:
        WriterDied: the counter is odd.
    """
    seq = cell.load()
    if seq & 1:
        raise WriterDied(seq)
    return ReadResult(copy(), seq, 0)


def describe_lock(file_offset: int) -> Tuple[str, str]:
    """Words naming the lock byte, and how to find its holder."""
    return (f"the region's write lock (an OFD lock on byte {file_offset} of "
            f"the segment file)",
            "grep OFDLCK /proc/locks lists held OFD locks (by device:inode "
            f"and byte {file_offset}); the kernel releases a lock when its "
            "holder dies, so a held lock has a live holder")

"""Worker operations on the synchronization protocol (docs/SYNC.md):
u64 fill patterns and the contention loop end-to-end tests run in several
processes at once.

A *contention* run has writers and readers on one region for a few
seconds. Writer ``K`` writes, again and again with
:meth:`~snakepit_shm.region.Region.write_consistent`, ``words`` u64 words
all equal to ``K << 32 | n`` (``n`` = 1, 2, ... modulo 2**32). Readers copy
the same ``words`` words with
:meth:`~snakepit_shm.region.Region.read_consistent` and count a copy whose
words are not all equal as *torn*: with the protocol that count must stay
0. A *raw* reader copies with plain :meth:`~snakepit_shm.region.Region.read`
instead, to show that without the protocol torn copies do occur (so a
zero from the protocol is meaningful). Regions start zeroed (all words
equal), as the manager allocates them.
"""

from __future__ import annotations

import struct
import time
from typing import Dict

from .errors import RegionUsageError
from .region import Region

U64_BYTES = 8
U64_MAX = (1 << 64) - 1
U32_MAX = (1 << 32) - 1
WRITER = "writer"
READER = "reader"
ROLES = (WRITER, READER)


def u64_words(value: int, count: int) -> bytes:
    """``count`` little-endian u64 words equal to ``value``.

    Raises:
        RegionUsageError: ``value`` outside 0..2**64-1 or ``count`` < 0.
    """
    if (isinstance(value, bool) or not isinstance(value, int)
            or not 0 <= value <= U64_MAX):
        raise RegionUsageError(f"fill_u64 must be 0..2**64-1, got {value!r}",
                               remediation="pass an unsigned 64-bit integer")
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        raise RegionUsageError(f"count must be an int >= 0, got {count!r}",
                               remediation="pass the number of u64 words")
    return struct.pack("<Q", value) * count


def all_words_equal(data: bytes) -> bool:
    """True when ``data`` is a repetition of its first 8 bytes."""
    words = len(data) // U64_BYTES
    return data == data[:U64_BYTES] * words


def contend(region: Region, role: str, seconds: float, words: int, *,
            writer_id: int = 0, offset: int = 0, raw: bool = False,
            timeout_s: float = 5.0) -> Dict[str, int]:
    """Write or read ``words`` u64 words at payload ``offset`` repeatedly
    for ``seconds`` (see the module docstring).

    Returns:
        ``{"ops": n, "torn": t, "retries": r}``: writes or reads done,
        reads whose words were not all equal (0 for writers), and read
        attempts retried because a write was in progress or overlapped
        (0 for writers and raw readers).

    Raises:
        RegionUsageError: unknown role, ``writer_id`` outside 0..2**32-1,
            ``words`` < 1, ``seconds`` < 0, or the range leaves the
            payload.
        LockTimeoutError, InvalidRegionError: from the protocol calls.
    """
    if role not in ROLES:
        raise RegionUsageError(f"role must be one of {ROLES}, got {role!r}",
                               remediation="pass writer or reader")
    if isinstance(writer_id, bool) or not 0 <= writer_id <= U32_MAX:
        raise RegionUsageError(
            f"writer_id must be 0..2**32-1, got {writer_id!r}",
            remediation="give each writer a distinct small integer")
    if isinstance(words, bool) or words < 1:
        raise RegionUsageError(f"words must be >= 1, got {words!r}",
                               remediation="pass the number of u64 words")
    if seconds < 0:
        raise RegionUsageError(f"seconds must be >= 0, got {seconds!r}",
                               remediation="pass a duration in seconds")
    length = words * U64_BYTES
    deadline = time.monotonic() + seconds
    ops = torn = retries = 0
    counter = 0
    while time.monotonic() < deadline:
        if role == WRITER:
            counter = (counter + 1) & U32_MAX
            region.write_consistent(
                offset, u64_words(writer_id << 32 | counter, words),
                timeout_s)
        elif raw:
            if not all_words_equal(region.read(offset, length)):
                torn += 1
        else:
            snapshot = region.read_snapshot(offset, length, timeout_s)
            retries += snapshot.retries
            if not all_words_equal(snapshot.data):
                torn += 1
        ops += 1
    return {"ops": ops, "torn": torn, "retries": retries}

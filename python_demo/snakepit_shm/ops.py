"""Payload operations used by the worker: hash, scale, fill, attach timing.

numpy is used when installed; otherwise each operation falls back to the
standard library (``memoryview.cast``). Setting the environment variable
``SNAKEPIT_SHM_NO_NUMPY=1`` forces the fallback (tests use it).
"""

from __future__ import annotations

import hashlib
import math
import mmap
import os
import sys
import time
from array import array
from typing import Any, Dict, Mapping, Optional

from .errors import ReadOnlyRegionError, RegionUsageError
from .region import Region, attach

FLOAT64_BYTES = 8
_CHUNK_ITEMS = 1 << 16


def _load_numpy() -> Optional[Any]:
    if os.environ.get("SNAKEPIT_SHM_NO_NUMPY") == "1":
        return None
    try:
        import numpy
    except ImportError:
        return None
    return numpy


np = _load_numpy()
"""The numpy module, or None when absent or disabled."""


def sha256_hex(region: Region) -> str:
    """SHA-256 of the payload bytes, as lowercase hex."""
    view = region.memoryview
    try:
        return hashlib.sha256(view).hexdigest()
    finally:
        view.release()


def scale(source: Region, target: Region, factor: float) -> Dict[str, Any]:
    """Write ``source * factor`` into ``target``, both little-endian float64.

    Returns:
        ``{"sum": float, "n": int, "micros": int}``: the sum of the output,
        the element count and the compute time in microseconds.

    Raises:
        ReadOnlyRegionError: ``target`` is read_only.
        RegionUsageError: sizes are not equal or not a multiple of 8.
    """
    _require_writable(target)
    if source.size % FLOAT64_BYTES or source.size != target.size:
        raise RegionUsageError(
            f"scale needs two float64 payloads of equal size; input has "
            f"{source.size} bytes, output {target.size}",
            remediation="allocate the output with the input's size, a "
                        "multiple of 8 bytes")
    count = source.size // FLOAT64_BYTES
    if np is not None:
        return _scale_numpy(source, target, factor, count)
    return _scale_python(source, target, factor, count)


def _scale_numpy(source: Region, target: Region, factor: float,
                 count: int) -> Dict[str, Any]:
    values = source.numpy("<f8")
    out = target.numpy("<f8")
    started_ns = time.perf_counter_ns()
    np.multiply(values, factor, out=out)
    micros = (time.perf_counter_ns() - started_ns) // 1000
    total = float(out.sum())
    del values, out
    return {"sum": total, "n": count, "micros": micros}


def _scale_python(source: Region, target: Region, factor: float,
                  count: int) -> Dict[str, Any]:
    if sys.byteorder != "little":
        raise RegionUsageError(
            "the numpy-free scale fallback needs a little-endian host",
            remediation="install numpy")
    with source.memoryview as raw_in, target.memoryview as raw_out:
        with raw_in.cast("d") as values, raw_out.cast("d") as out:
            started_ns = time.perf_counter_ns()
            for start in range(0, count, _CHUNK_ITEMS):
                stop = min(start + _CHUNK_ITEMS, count)
                out[start:stop] = array(
                    "d", [value * factor for value in values[start:stop]])
            micros = (time.perf_counter_ns() - started_ns) // 1000
            total = math.fsum(out)
    return {"sum": total, "n": count, "micros": micros}


def fill(region: Region, value: int) -> None:
    """Set every payload byte to ``value`` (0..255)."""
    _require_writable(region)
    if isinstance(value, bool) or not 0 <= value <= 255:
        raise RegionUsageError(f"fill byte must be 0..255, got {value!r}",
                               remediation="pass an integer byte value")
    if np is not None:
        region.numpy("uint8").fill(value)
        return
    chunk = bytes([value]) * min(region.size, 1 << 20)
    with region.memoryview as view:
        for start in range(0, region.size, len(chunk) or 1):
            stop = min(start + len(chunk), region.size)
            view[start:stop] = chunk[:stop - start]


def attach_time_micros(descriptor: Mapping[str, Any]) -> int:
    """Microseconds to attach and read one byte of every payload page."""
    started_ns = time.perf_counter_ns()
    region = attach(descriptor)
    try:
        touch_pages(region)
        elapsed_ns = time.perf_counter_ns() - started_ns
    finally:
        region.close()
    return elapsed_ns // 1000


def touch_pages(region: Region) -> int:
    """Read one byte per page of the payload; returns the byte sum (so the
    reads cannot be skipped)."""
    page = mmap.PAGESIZE
    if np is not None:
        total = int(region.numpy("uint8")[::page].sum())
        return total
    with region.memoryview as view:
        return sum(view[index] for index in range(0, region.size, page))


def _require_writable(region: Region) -> None:
    if region.read_only:
        raise ReadOnlyRegionError(
            f"region id={region.id} generation={region.generation} is "
            "attached read_only; this operation writes",
            remediation="pass a read_write descriptor")

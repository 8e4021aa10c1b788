"""Payload operations used by the worker: hash, scale, fill, attach timing.

numpy is used when installed; otherwise each operation falls back to the
standard library (``memoryview.cast``). Setting the environment variable
``SNAKEPIT_SHM_NO_NUMPY=1`` forces the fallback (tests use it).

Every operation also serves *windowed* regions (``Region.windowed``, the
payload did not fit the address space): hash, fill and page touching walk
``Region.windows()`` (one view of the whole payload for a fully mapped
region, so nothing changes there), and ``scale`` walks the output's
windows, copying the input in chunks of at most ``SCALE_CHUNK_BYTES``.
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
SCALE_CHUNK_BYTES = 4 * 1024 * 1024
"""Input bytes copied per step when ``scale`` runs on a windowed region."""


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
    """SHA-256 of the payload bytes, as lowercase hex (window by window
    when the region is windowed)."""
    digest = hashlib.sha256()
    for _offset, view in region.windows():
        digest.update(view)
    return digest.hexdigest()


def scale(source: Region, target: Region, factor: float) -> Dict[str, Any]:
    """Write ``source * factor`` into ``target``, both little-endian float64.

    Returns:
        ``{"sum": float, "n": int, "micros": int}``: the sum of the output,
        the element count and the compute time in microseconds.

    When either region is windowed, the output is walked window by window
    and the input copied in chunks of ``SCALE_CHUNK_BYTES``; ``micros``
    then includes mapping the windows and copying the input.

    Raises:
        ReadOnlyRegionError: ``target`` is read_only.
        RegionUsageError: sizes are not equal or not a multiple of 8.
        AddressSpaceError: windowed, and not even one granule maps.
    """
    _require_writable(target)
    if source.size % FLOAT64_BYTES or source.size != target.size:
        raise RegionUsageError(
            f"scale needs two float64 payloads of equal size; input has "
            f"{source.size} bytes, output {target.size}",
            remediation="allocate the output with the input's size, a "
                        "multiple of 8 bytes")
    count = source.size // FLOAT64_BYTES
    if sys.byteorder != "little" and np is None:
        raise RegionUsageError(
            "the numpy-free scale fallback needs a little-endian host",
            remediation="install numpy")
    if source.windowed or target.windowed:
        return _scale_windowed(source, target, factor, count)
    if np is not None:
        return _scale_numpy(source, target, factor, count)
    return _scale_python(source, target, factor, count)


def _scale_numpy(source: Region, target: Region, factor: float,
                 count: int) -> Dict[str, Any]:
    assert np is not None
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


def _scale_windowed(source: Region, target: Region, factor: float,
                    count: int) -> Dict[str, Any]:
    """Output window by window, input copied in bounded chunks, so at most
    one output window and one input chunk are mapped at a time."""
    partial_sums = []
    started_ns = time.perf_counter_ns()
    for offset, out_window in target.windows():
        for start in range(0, len(out_window), SCALE_CHUNK_BYTES):
            stop = min(start + SCALE_CHUNK_BYTES, len(out_window))
            data = source.read(offset + start, stop - start)
            with out_window[start:stop] as out_raw:
                partial_sums.append(_scale_chunk(data, out_raw, factor))
    micros = (time.perf_counter_ns() - started_ns) // 1000
    return {"sum": math.fsum(partial_sums), "n": count, "micros": micros}


def _scale_chunk(data: bytes, out_raw: memoryview, factor: float) -> float:
    """Write ``data * factor`` (float64) into ``out_raw``; returns the sum
    of what was written."""
    if np is not None:
        out = np.frombuffer(out_raw, dtype="<f8")
        np.multiply(np.frombuffer(data, dtype="<f8"), factor, out=out)
        total = float(out.sum())
        del out
        return total
    with memoryview(data).cast("d") as values, out_raw.cast("d") as out:
        out[:] = array("d", [value * factor for value in values])
        return math.fsum(out)


def fill(region: Region, value: int) -> None:
    """Set every payload byte to ``value`` (0..255)."""
    _require_writable(region)
    if isinstance(value, bool) or not 0 <= value <= 255:
        raise RegionUsageError(f"fill byte must be 0..255, got {value!r}",
                               remediation="pass an integer byte value")
    chunk = (b"" if np is not None
             else bytes([value]) * min(region.size, 1 << 20))
    for _offset, view in region.windows():
        if np is not None:
            target = np.frombuffer(view, dtype=np.uint8)
            target.fill(value)
            del target
            continue
        for start in range(0, len(view), len(chunk)):
            stop = min(start + len(chunk), len(view))
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
    reads cannot be skipped). Window by window when windowed."""
    page = mmap.PAGESIZE
    total = 0
    for _offset, view in region.windows():
        if np is not None:
            total += int(np.frombuffer(view, dtype=np.uint8)[::page].sum())
        else:
            total += sum(view[index] for index in range(0, len(view), page))
    return total


def _require_writable(region: Region) -> None:
    if region.read_only:
        raise ReadOnlyRegionError(
            f"region id={region.id} generation={region.generation} is "
            "attached read_only; this operation writes",
            remediation="pass a read_write descriptor")

"""Python worker of the soak test (test/src/test/java/.../SoakIT.java).

Run as ``PYTHONPATH=python_demo python3 -u soak_worker.py --tag TAG`` by an
Elixir soak client (``soak_python.exs``), one process per worker slot. It
serves the line protocol of :mod:`snakepit_shm.worker` (ping, sha256, fill,
hold, ..., exit) plus two soak operations on a region the caller made this
process hold (``{:os_pid, pid}``)::

    {"op":"pattern_verify","region":DESC,"version":V}
        ok match=1 size=<n>
        ok match=0 size=<n> first_diff=<offset> expected=<byte> actual=<byte>
    {"op":"pattern_fill","region":DESC,"version":V}
        ok size=<n> version=<V>

Both attach by descriptor (which checks the region header: magic, CRC,
state live, id and generation; a freed or reused region is
``error not_found ...``, a corrupt one ``error invalid_region ...``) and
check the header again after touching the payload, so a region freed while
this process held it is reported, not silently read.

``--tag`` is not used by the worker: it marks the command line so the test
can find every soak process it started (and prove none is left).

The payload pattern is :func:`pattern`; ``soak_support.exs`` computes the
same bytes in Elixir (``Soak.Pattern.bytes/4``).
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from typing import Any, BinaryIO, Mapping, TextIO

from snakepit_shm import worker as base
from snakepit_shm.region import attach

PATTERN_UNIT_BLOCKS = 128
"""SHA-256 blocks (32 bytes each) in one 4096-byte pattern unit."""


def pattern(region_id: str, generation: int, version: int,
            size_bytes: int) -> bytes:
    """The bytes a writer puts in version ``version`` of a region.

    A 4096-byte unit of SHA-256 blocks of ``snakepit-soak|ID|GEN|VERSION``
    followed by the block number (u32 little-endian), repeated to
    ``size_bytes``. Distinct per region, allocation and version, so a read
    of another region's bytes, of a stale version or of zeros never matches.
    """
    seed = f"snakepit-soak|{region_id}|{generation}|{version}".encode()
    unit = b"".join(hashlib.sha256(seed + i.to_bytes(4, "little")).digest()
                    for i in range(PATTERN_UNIT_BLOCKS))
    return (unit * (size_bytes // len(unit) + 1))[:size_bytes]


class SoakWorker(base.Worker):
    """The demo worker plus pattern_verify and pattern_fill."""

    def __init__(self) -> None:
        super().__init__()
        self._handlers["pattern_verify"] = self._pattern_verify
        self._handlers["pattern_fill"] = self._pattern_fill

    def _pattern_verify(self, request: Mapping[str, Any]) -> base.Reply:
        version = _field(request, "version", int)
        with attach(_field(request, "region", dict)) as region:
            expected = pattern(region.id, region.generation, version,
                               region.size)
            view = region.memoryview
            try:
                actual = bytes(view)
            finally:
                view.release()
            region.check()  # still live after the read: not freed meanwhile
        if actual == expected:
            return {"match": 1, "size": len(actual)}
        first = next(i for i, (a, b) in enumerate(zip(actual, expected))
                     if a != b)
        return {"match": 0, "size": len(actual), "first_diff": first,
                "expected": expected[first], "actual": actual[first]}

    def _pattern_fill(self, request: Mapping[str, Any]) -> base.Reply:
        version = _field(request, "version", int)
        with attach(_field(request, "region", dict)) as region:
            data = pattern(region.id, region.generation, version, region.size)
            view = region.memoryview
            try:
                view[:] = data
            finally:
                view.release()
            region.check()
            return {"size": region.size, "version": version}


def _field(request: Mapping[str, Any], key: str, kind: type) -> Any:
    value = request.get(key)
    if isinstance(value, bool) or not isinstance(value, kind):
        raise base.ProtocolError(
            f"request field {key!r} is missing or not a {kind.__name__}")
    return value


def serve(stdin: BinaryIO, stdout: TextIO) -> int:
    """Answer request lines until EOF or ``exit``; returns 0."""
    worker = SoakWorker()
    try:
        for raw in stdin:
            try:
                reply = worker.handle_line(raw.decode("utf-8", "replace"))
            except base.ExitRequested:
                reply = "ok exit=0"
                stdout.write(reply + "\n")
                stdout.flush()
                return 0
            stdout.write(reply + "\n")
            stdout.flush()
        return 0
    finally:
        worker.close_held()


def main() -> int:
    """Protocol on the real stdout; anything else goes to stderr."""
    parser = argparse.ArgumentParser(description="snakepit-shm soak worker")
    parser.add_argument("--tag", default="", help="marks the command line")
    parser.parse_args()
    return base.run(serve, name="soak_worker")


if __name__ == "__main__":
    sys.exit(main())

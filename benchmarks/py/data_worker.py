#!/usr/bin/env python3
"""Python side of the data-path benchmark (benchmarks/data_path.exs).

Runs on an Erlang Port with ``{:packet, 4}`` framing on stdin/stdout: every message is
a 4-byte big-endian length and that many bytes. Requests are JSON objects; replies are
``ok key=value ...`` (or ``error <message>``), except ``pipe_out``, whose reply is one
raw data packet. EOF on stdin ends the process with status 0.

Requests::

    {"op": "ping"}                        ok pid=<os pid>
    {"op": "block"}  + 1 data packet      ok size=<n>      (the pattern every payload repeats)
    {"op": "handoff", "desc": D}          ok sum=<u64> attach_ns=<n> sum_ns=<n> close_ns=<n>
        attach the region (snakepit_shm.attach), numpy uint64 view, sum (mod 2**64),
        then close the region (munmap); close_ns times that last step
    {"op": "handoff", "desc": D, "smaps": true}
                                          ... smaps_<field>=<n> for the mapping
        the same, then (untimed, still mapped) the /proc/self/smaps entry of the
        mapping holding the payload: Size, Rss, ShmemPmdMapped, FilePmdMapped (kB)
        and THPeligible (0/1): whether the kernel maps it with 2 MiB pages; and
        thp_sampled=<n> thp_pages=<n>: of one 4 KiB page per 2 MiB of the payload,
        how many belong to a transparent huge page (/proc/self/pagemap, then
        /proc/kpageflags; needs root, else thp_sampled=0)
    {"op": "handoff_touch", "desc": D}    ok first=<b> last=<b> attach_ns=<n>
        attach, view, read the first and last byte only
    {"op": "pipe_in", "size": N} + 1 data packet of N bytes
                                          ok sum=<u64> read_ns=<n> sum_ns=<n>
        read the packet into a preallocated, pre-faulted bytearray, then the same sum
    {"op": "fill", "desc": D}             ok attach_ns=<n> copy_ns=<n>
        attach, numpy.copyto(view, source) where source is the pattern tiled to the size
    {"op": "pipe_out", "size": N}         one raw packet: the N source bytes
    {"op": "memcpy", "size": N, "reps": R}
                                          ok ns=<n1>,<n2>,...
        numpy.copyto(dst, src) of N bytes into a preallocated, pre-faulted array, R times
    {"op": "drop"}                        ok   (frees cached buffers)

Started as ``python3 data_worker.py --run-id RID``; the run id only marks the process
as this run's (scripts/bench.sh cleans up by it).

Checksum: ``numpy.sum`` of the payload viewed as little-endian uint64, which wraps
modulo 2**64; it reads every byte once, at memory speed.
"""

from __future__ import annotations

import io
import json
import os
import struct
import sys
import time
from typing import Any, Dict, Tuple

import numpy as np

from snakepit_shm import attach

STDIN = io.FileIO(0, "rb", closefd=False)
STDOUT = io.FileIO(1, "wb", closefd=False)
HEADER = struct.Struct(">I")


class Eof(Exception):
    """stdin closed: the benchmark is done (or died)."""


def read_into(view: memoryview) -> None:
    """Fill ``view`` completely from stdin."""
    done = 0
    while done < len(view):
        n = STDIN.readinto(view[done:])
        if not n:
            raise Eof()
        done += n


def read_header() -> int:
    raw = bytearray(4)
    read_into(memoryview(raw))
    return HEADER.unpack(raw)[0]


def read_packet() -> bytearray:
    data = bytearray(read_header())
    read_into(memoryview(data))
    return data


def write_packet(payload: Any) -> None:
    """Write one packet; ``payload`` is bytes-like (numpy arrays included)."""
    view = memoryview(payload).cast("B")
    STDOUT.write(HEADER.pack(len(view)))
    done = 0
    while done < len(view):
        done += STDOUT.write(view[done:])


def reply(**fields: Any) -> None:
    write_packet(("ok " + " ".join(f"{k}={v}" for k, v in fields.items())).encode())


SMAPS_FIELDS = ("Size", "Rss", "ShmemPmdMapped", "FilePmdMapped", "THPeligible")


def smaps_of(address: int) -> Dict[str, int]:
    """The fields ``SMAPS_FIELDS`` of the /proc/self/smaps entry containing ``address``
    (sizes in kB as the kernel prints them; THPeligible 0 or 1); {} if none does."""
    found: Dict[str, int] = {}
    inside = False
    with open("/proc/self/smaps", encoding="ascii", errors="replace") as smaps:
        for line in smaps:
            key, _, rest = line.partition(" ")
            if "-" in key and not key.endswith(":"):  # a mapping's first line: start-end perms ...
                if inside:
                    break
                start, _, end = key.partition("-")
                inside = int(start, 16) <= address < int(end, 16)
            elif inside and key.endswith(":") and key[:-1] in SMAPS_FIELDS:
                found[key[:-1]] = int(rest.split()[0])
    return found


PAGE_BYTES = 4096
HUGE_PAGE_BYTES = 2 * 1024 * 1024
PFN_MASK = (1 << 55) - 1
PAGE_PRESENT = 1 << 63
KPF_THP = 1 << 22


def thp_backing(address: int, length: int) -> Tuple[int, int]:
    """(sampled, in_thp): one present 4 KiB page per 2 MiB of [address, address+length)
    looked up in /proc/kpageflags; (0, 0) when the PFNs are hidden (not root)."""
    sampled = in_thp = 0
    try:
        with open("/proc/self/pagemap", "rb") as pagemap, open("/proc/kpageflags", "rb") as kflags:
            for page_address in range(address, address + length, HUGE_PAGE_BYTES):
                pagemap.seek(page_address // PAGE_BYTES * 8)
                entry = int.from_bytes(pagemap.read(8), "little")
                pfn = entry & PFN_MASK
                if not entry & PAGE_PRESENT or pfn == 0:
                    continue
                kflags.seek(pfn * 8)
                sampled += 1
                in_thp += bool(int.from_bytes(kflags.read(8), "little") & KPF_THP)
    except OSError:
        return 0, 0
    return sampled, in_thp


def checksum(array: np.ndarray) -> int:
    """Sum of uint64 little-endian words modulo 2**64."""
    return int(array.sum(dtype=np.uint64))


class Worker:
    """State kept between requests: the pattern and buffers cached per size."""

    def __init__(self) -> None:
        self.block = np.zeros(0, dtype=np.uint8)
        self.sources: Dict[int, np.ndarray] = {}
        self.buffers: Dict[int, bytearray] = {}

    def source(self, size: int) -> np.ndarray:
        """The pattern tiled to ``size`` bytes (the bytes the BEAM side uses too)."""
        if size not in self.sources:
            self.sources[size] = np.tile(self.block, size // len(self.block))
        return self.sources[size]

    def buffer(self, size: int) -> bytearray:
        """A receive buffer of ``size`` bytes, every page already touched."""
        if size not in self.buffers:
            buf = bytearray(size)
            np.frombuffer(buf, dtype=np.uint8).fill(1)
            self.buffers[size] = buf
        return self.buffers[size]

    def handle(self, req: Dict[str, Any]) -> None:
        op = req["op"]
        if op == "ping":
            reply(pid=os.getpid())
        elif op == "block":
            self.block = np.frombuffer(bytes(read_packet()), dtype=np.uint8)
            self.sources.clear()
            reply(size=len(self.block))
        elif op == "handoff":
            t0 = time.perf_counter_ns()
            with attach(req["desc"]) as region:
                words = region.numpy("<u8")
                t1 = time.perf_counter_ns()
                total = checksum(words)
                t2 = time.perf_counter_ns()
                smaps: Dict[str, int] = {}
                if req.get("smaps"):
                    smaps = smaps_of(words.ctypes.data)
                    smaps["thp_sampled"], smaps["thp_pages"] = thp_backing(words.ctypes.data, words.nbytes)
                del words
                t3 = time.perf_counter_ns()
            reply(sum=total, attach_ns=t1 - t0, sum_ns=t2 - t1, close_ns=time.perf_counter_ns() - t3,
                  **{f"smaps_{k}": v for k, v in smaps.items()})
        elif op == "handoff_touch":
            t0 = time.perf_counter_ns()
            with attach(req["desc"]) as region:
                data = region.numpy("u1")
                first, last = int(data[0]), int(data[-1])
                del data
            reply(first=first, last=last, attach_ns=time.perf_counter_ns() - t0)
        elif op == "pipe_in":
            size = int(req["size"])
            buf = self.buffer(size)
            t0 = time.perf_counter_ns()
            n = read_header()
            if n != size:
                raise ValueError(f"pipe_in: expected {size} bytes, header says {n}")
            read_into(memoryview(buf))
            t1 = time.perf_counter_ns()
            total = checksum(np.frombuffer(buf, dtype="<u8"))
            reply(sum=total, read_ns=t1 - t0, sum_ns=time.perf_counter_ns() - t1)
        elif op == "fill":
            t0 = time.perf_counter_ns()
            with attach(req["desc"]) as region:
                data = region.numpy("u1")
                t1 = time.perf_counter_ns()
                np.copyto(data, self.source(len(data)))
                t2 = time.perf_counter_ns()
                del data
            reply(attach_ns=t1 - t0, copy_ns=t2 - t1)
        elif op == "pipe_out":
            write_packet(self.source(int(req["size"])))
        elif op == "memcpy":
            size, reps = int(req["size"]), int(req["reps"])
            src = self.source(size)
            dst = np.empty(size, dtype=np.uint8)
            dst.fill(0)
            times = []
            for _ in range(reps):
                t0 = time.perf_counter_ns()
                np.copyto(dst, src)
                times.append(time.perf_counter_ns() - t0)
            del dst
            reply(ns=",".join(map(str, times)))
        elif op == "drop":
            self.sources.clear()
            self.buffers.clear()
            reply()
        else:
            raise ValueError(f"unknown op {op!r}")


def main() -> int:
    worker = Worker()
    while True:
        try:
            request = json.loads(read_packet())
        except Eof:
            return 0
        try:
            worker.handle(request)
        except Eof:
            return 0
        except Exception as exc:  # reported to the BEAM side, which stops the run
            write_packet(f"error {type(exc).__name__}: {exc}".encode())


if __name__ == "__main__":
    sys.exit(main())

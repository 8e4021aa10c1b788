"""The worker's ``held_sha256`` op: a hash read through the mapping made at
``hold`` time, so it shows what a process that kept its mapping sees after
the bytes were changed, the header overwritten or the file unlinked behind
its back."""

from __future__ import annotations

import hashlib
import os
from typing import Iterator

import pytest

from segment_builder import (RegionSpec, flip_byte, pattern,
                             region_header_at, write_segment)
from worker_process import WorkerProcess, fields


@pytest.fixture
def worker() -> Iterator[WorkerProcess]:
    process = WorkerProcess()
    try:
        yield process
    finally:
        process.stop()


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_held_sha256_reads_through_the_held_mapping(
        worker: WorkerProcess, shm_dir: str) -> None:
    first, second = write_segment(shm_dir, [
        RegionSpec(size=4096, region_id=1, generation=1),
        RegionSpec(size=3000, region_id=2, generation=1)])
    fields(worker.send({"op": "hold", "region": first}))
    fields(worker.send({"op": "hold", "region": second}))

    assert fields(worker.send({"op": "held_sha256", "index": 1})) == {
        "sha256": sha256_hex(pattern(2, 3000)), "size": "3000",
        "index": "1"}
    assert fields(worker.send({"op": "held_sha256", "index": 0}))[
        "sha256"] == sha256_hex(pattern(1, 4096))

    # bytes changed behind the worker's back show through the shared mapping
    fd = os.open(first["path"], os.O_RDWR)
    try:
        os.pwrite(fd, bytes(4096), first["offset"])
    finally:
        os.close(fd)
    assert fields(worker.send({"op": "held_sha256", "index": 0}))[
        "sha256"] == sha256_hex(bytes(4096))


def test_held_sha256_skips_the_header_check_and_survives_unlink(
        worker: WorkerProcess, shm_dir: str) -> None:
    [desc] = write_segment(shm_dir, [RegionSpec(size=5000, region_id=3,
                                                generation=4)])
    fields(worker.send({"op": "hold", "region": desc}))
    flip_byte(desc["path"], region_header_at(desc) + 20)
    assert worker.send({"op": "sha256", "region": desc}).startswith(
        "error invalid_region ")
    os.unlink(desc["path"])

    assert fields(worker.send({"op": "held_sha256", "index": 0}))[
        "sha256"] == sha256_hex(pattern(3, 5000))


@pytest.mark.parametrize("request_line", [
    '{"op":"held_sha256"}',
    '{"op":"held_sha256","index":0}',
    '{"op":"held_sha256","index":-1}',
    '{"op":"held_sha256","index":"0"}',
])
def test_held_sha256_without_a_held_region_is_invalid_request(
        worker: WorkerProcess, request_line: str) -> None:
    reply = worker.send_raw(request_line)
    assert reply.startswith("error invalid_request "), reply
    assert fields(worker.send({"op": "ping"}))["pid"] == \
        str(worker.process.pid)

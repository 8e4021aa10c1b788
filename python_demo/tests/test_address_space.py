"""Mapping under a real lowered address-space limit (RLIMIT_AS).

A child Python lowers its own RLIMIT_AS to its current VmSize plus some
headroom, smaller than a 512 MiB region, and attaches the region: mapping
its whole segment fails with ENOMEM, the region falls back to windowed mode
with a warning on the ``snakepit_shm`` logger, and hashing, reads and writes go
through windows. A worker process limited the same way (``prlimit`` from
the parent) keeps serving such regions.

The segments are sparse (ftruncate), but every page the hashes touch is
allocated in tmpfs while the test runs (about 0.9 GiB at most); the
per-test directory is removed afterwards.
"""

from __future__ import annotations

import hashlib
import json
import mmap
import os
import re
import resource
import struct
import subprocess
import sys
from typing import Any, Dict, List, Tuple

import pytest

from conftest import subprocess_env
from segment_builder import RegionSpec, read_file, write_segment
from snakepit_shm import attach, ops
from snakepit_shm.windows import DEFAULT_WINDOW_BYTES
from test_worker import REPLY_TIMEOUT_S, WorkerProcess, fields

MIB = 1024 * 1024
REGION_BYTES = 512 * MIB
CHILD_TIMEOUT_S = 120

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"),
    reason="reads VmSize from /proc and sets RLIMIT_AS (Linux)")

CHILD_SCRIPT = r"""
import json, logging, re, resource, sys

from snakepit_shm import AddressSpaceError, attach, ops

records = []


class Keep(logging.Handler):
    def emit(self, record):
        records.append((record.levelname, record.getMessage()))


logging.getLogger("snakepit_shm").addHandler(Keep())
desc = json.loads(sys.argv[1])
headroom_bytes = int(sys.argv[2])
reads = json.loads(sys.argv[3])
writes = json.loads(sys.argv[4])

with open("/proc/self/status") as status:
    vm_kib = int(re.search(r"VmSize:\s+(\d+) kB", status.read()).group(1))
limit_bytes = vm_kib * 1024 + headroom_bytes
resource.setrlimit(resource.RLIMIT_AS, (limit_bytes, limit_bytes))

result = {"limit_bytes": limit_bytes}
with attach(desc) as region:
    result["windowed"] = region.windowed
    result["live"] = region.check().is_live
    result["sha256"] = ops.sha256_hex(region)
    result["window_bytes"] = region.window_bytes
    result["reads"] = [region.read(offset, length).decode("latin-1")
                       for offset, length in reads]
    for offset, text in writes:
        region.write(offset, text.encode("latin-1"))
    try:
        region.numpy()
    except AddressSpaceError as error:
        result["numpy_error"] = [error.code, error.message]
result["attach_micros"] = ops.attach_time_micros(desc)
result["records"] = records
print(json.dumps(result))
"""


def sparse_region(shm_dir: str, size: int = REGION_BYTES,
                  region_id: int = 1) -> Dict[str, Any]:
    """A dedicated segment of ``size`` payload bytes, sparse apart from its
    headers (ftruncate: no memory until pages are touched)."""
    [desc] = write_segment(shm_dir, [RegionSpec(
        size=size, region_id=region_id, generation=1, fill=b"")], kind=2)
    return desc


def pwrite_payload(desc: Dict[str, Any],
                   markers: List[Tuple[int, bytes]]) -> None:
    """Write ``(payload offset, bytes)`` pairs straight into the file."""
    fd = os.open(desc["path"], os.O_RDWR)
    try:
        for offset, data in markers:
            os.pwrite(fd, data, desc["offset"] + offset)
    finally:
        os.close(fd)


def straddling(file_boundary: int, desc: Dict[str, Any],
               data: bytes) -> int:
    """Payload offset at which ``data`` straddles ``file_boundary``."""
    return file_boundary - desc["offset"] - len(data) // 2


def run_child(desc: Dict[str, Any], headroom_bytes: int,
              reads: List[Tuple[int, int]],
              writes: List[Tuple[int, bytes]]) -> Dict[str, Any]:
    result = subprocess.run(
        [sys.executable, "-c", CHILD_SCRIPT, json.dumps(desc),
         str(headroom_bytes), json.dumps(reads),
         json.dumps([[offset, data.decode("latin-1")]
                     for offset, data in writes])],
        env=subprocess_env(), capture_output=True, text=True,
        timeout=CHILD_TIMEOUT_S)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.mark.parametrize("headroom_mib", [128, 24])
def test_child_under_rlimit_falls_back_to_windows(
        shm_dir: str, headroom_mib: int) -> None:
    desc = sparse_region(shm_dir)
    markers = [(0, b"first-bytes"),
               (straddling(64 * MIB, desc, b"straddles-64MiB"),
                b"straddles-64MiB"),
               (300 * MIB + 123, b"middle"),
               (REGION_BYTES - 8, b"lastbyte")]
    pwrite_payload(desc, markers)
    writes = [(straddling(128 * MIB, desc, b"child-straddles"),
               b"child-straddles"),
              (REGION_BYTES - 40, b"child-tail")]
    with attach(desc) as region:                     # parent: full mapping
        assert not region.windowed
        expected_sha = ops.sha256_hex(region)
        before = {offset: region.read(offset, len(data))
                  for offset, data in writes}
        child = run_child(desc, headroom_mib * MIB,
                          [(at, len(data)) for at, data in markers],
                          writes)
        # the child's writes are visible through the parent's mapping
        for at, data in writes:
            assert region.read(at, len(data)) == data
            assert before[at] != data
    assert child["windowed"] is True and child["live"] is True
    assert child["sha256"] == expected_sha
    assert [text.encode("latin-1") for text in child["reads"]] == \
        [data for _, data in markers]
    code, message = child["numpy_error"]
    assert code == "no_space" and "windowed" in message
    assert int(child["attach_micros"]) > 0
    for at, data in writes:
        assert read_file(desc["path"], desc["offset"] + at, len(data)) == data

    warnings = [text for level, text in child["records"]
                if level == "WARNING"]
    fallback = [text for text in warnings
                if "mapping the whole segment" in text]
    assert fallback, child["records"]
    whole_bytes = os.path.getsize(desc["path"])    # the segment file
    assert f"({whole_bytes} bytes)" in fallback[0]
    assert "ENOMEM" in fallback[0] and "errno 12" in fallback[0]
    assert f"RLIMIT_AS {child['limit_bytes']} bytes" in fallback[0]
    assert "mapping windows of at most" in fallback[0]
    retries = [text for text in warnings if "retrying with windows" in text]
    if headroom_mib * MIB > DEFAULT_WINDOW_BYTES + 32 * MIB:
        assert child["window_bytes"] == DEFAULT_WINDOW_BYTES
    else:                            # 64 MiB windows cannot fit: halved
        assert retries, warnings
        assert child["window_bytes"] < DEFAULT_WINDOW_BYTES
        assert child["window_bytes"] % mmap.ALLOCATIONGRANULARITY == 0
        assert f"a window of {DEFAULT_WINDOW_BYTES} bytes" in retries[0]


def test_worker_under_rlimit_serves_windowed_regions(shm_dir: str) -> None:
    big = sparse_region(shm_dir)
    pwrite_payload(big, [(5, b"marker")])
    count = 192 * MIB // 8
    samples = {0: 1.5, 8 * MIB // 8 + 3: 2.25, count - 1: -4.0}
    source = sparse_region(shm_dir, size=count * 8, region_id=3)
    pwrite_payload(source, [(index * 8, struct.pack("<d", value))
                            for index, value in samples.items()])
    target = sparse_region(shm_dir, size=count * 8, region_id=4)
    worker = WorkerProcess()
    try:
        pid = worker.process.pid
        fields(worker.send({"op": "ping"}))          # fully started
        with open(f"/proc/{pid}/status") as status:
            vm_kib = int(re.search(r"VmSize:\s+(\d+) kB",
                                   status.read()).group(1))
        limit_bytes = vm_kib * 1024 + 128 * MIB
        resource.prlimit(pid, resource.RLIMIT_AS, (limit_bytes, limit_bytes))

        expected = hashlib.sha256()
        fd = os.open(big["path"], os.O_RDONLY)
        try:
            for start in range(0, REGION_BYTES, 64 * MIB):
                expected.update(os.pread(fd, 64 * MIB,
                                         big["offset"] + start))
        finally:
            os.close(fd)
        assert fields(worker.send({"op": "sha256", "region": big})) == {
            "sha256": expected.hexdigest(), "size": str(REGION_BYTES)}

        assert fields(worker.send({"op": "fill", "region": big,
                                   "byte": 7})) == {
            "size": str(REGION_BYTES), "byte": "7"}
        filled = hashlib.sha256()
        chunk = b"\x07" * (64 * MIB)
        for _ in range(REGION_BYTES // len(chunk)):
            filled.update(chunk)
        del chunk
        assert fields(worker.send({"op": "sha256", "region": big}))[
            "sha256"] == filled.hexdigest()

        reply = fields(worker.send({"op": "scale", "input": source,
                                    "output": target, "factor": -2.0}))
        assert reply["n"] == str(count)
        assert float(reply["sum"]) == pytest.approx(
            -2.0 * sum(samples.values()))
        for index, value in samples.items():
            assert read_file(target["path"], target["offset"] + index * 8,
                             8) == struct.pack("<d", -2.0 * value)

        assert int(fields(worker.send({"op": "attach_time",
                                       "region": big}))["map_micros"]) > 0
        assert fields(worker.send({"op": "hold", "region": big})) == {
            "held": "1", "size": str(REGION_BYTES)}
        with open(f"/proc/{pid}/maps") as maps:
            assert big["path"] not in maps.read()    # holds no mapping
        assert fields(worker.send({"op": "release_held"})) == {"closed": "1"}
        assert worker.send({"op": "exit"}) == "ok exit=0"
        assert worker.process.wait(timeout=REPLY_TIMEOUT_S) == 0
        assert worker.process.stderr is not None
        log = worker.process.stderr.read().decode("utf-8")
    finally:
        worker.stop()
    assert "WARNING snakepit_shm: " in log
    assert log.count("mapping the whole segment") >= 5, log
    assert "ENOMEM" in log

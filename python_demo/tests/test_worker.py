"""The line-protocol worker, end to end: a real `python3 -m
snakepit_shm.worker` child fed JSON lines the way the Elixir demo sends
them."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import struct
from typing import Any, Dict, Iterator, List

import pytest

from segment_builder import (RegionSpec, flip_byte, pattern, read_file,
                             write_segment)
from worker_process import REPLY_TIMEOUT_S, WorkerProcess, fields


@pytest.fixture
def worker() -> Iterator[WorkerProcess]:
    process = WorkerProcess()
    try:
        yield process
    finally:
        process.stop()


def float_regions(shm_dir: str, values: List[float]) -> List[Dict[str, Any]]:
    raw = struct.pack(f"<{len(values)}d", *values)
    return write_segment(shm_dir, [
        RegionSpec(size=len(raw), region_id=1, generation=1, fill=raw),
        RegionSpec(size=len(raw), region_id=2, generation=1,
                   fill=bytes(len(raw)))])


def test_ping_answers_with_the_worker_pid(worker: WorkerProcess) -> None:
    assert fields(worker.send({"op": "ping"})) == {
        "pid": str(worker.process.pid)}


def test_sha256_of_the_payload(worker: WorkerProcess, shm_dir: str) -> None:
    [desc] = write_segment(shm_dir, [RegionSpec(size=5000, region_id=3,
                                                generation=8)])
    reply = fields(worker.send({"op": "sha256",
                                "region": dict(desc, access="read_only")}))
    assert reply == {"sha256": hashlib.sha256(pattern(3, 5000)).hexdigest(),
                     "size": "5000"}


@pytest.mark.parametrize("numpy_disabled", ["0", "1"])
def test_scale_writes_input_times_factor_in_place(
        shm_dir: str, numpy_disabled: str) -> None:
    if numpy_disabled == "0":
        pytest.importorskip("numpy")
    values = [float(index) * 0.5 - 3.0 for index in range(1000)]
    source, target = float_regions(shm_dir, values)
    process = WorkerProcess(SNAKEPIT_SHM_NO_NUMPY=numpy_disabled)
    try:
        reply = fields(process.send({"op": "scale", "input": source,
                                     "output": target, "factor": 2.5}))
    finally:
        process.stop()
    expected = [value * 2.5 for value in values]
    output = read_file(target["path"], target["offset"], 8000)
    assert list(struct.unpack("<1000d", output)) == expected
    assert read_file(source["path"], source["offset"], 8000) == \
        struct.pack("<1000d", *values)
    assert reply["n"] == "1000"
    assert float(reply["sum"]) == pytest.approx(sum(expected))
    assert reply["sha256"] == hashlib.sha256(output).hexdigest()
    assert int(reply["micros"]) >= 0


def test_fill_sets_every_payload_byte(worker: WorkerProcess,
                                      shm_dir: str) -> None:
    first, second = write_segment(shm_dir, [
        RegionSpec(size=300, region_id=1, generation=1),
        RegionSpec(size=300, region_id=2, generation=1)])
    assert fields(worker.send({"op": "fill", "region": first,
                               "byte": 171})) == {"size": "300",
                                                  "byte": "171"}
    assert read_file(first["path"], first["offset"], 300) == b"\xab" * 300
    assert read_file(second["path"], second["offset"], 300) == pattern(2, 300)


def test_attach_time_reports_microseconds(worker: WorkerProcess,
                                          shm_dir: str) -> None:
    [desc] = write_segment(shm_dir, [RegionSpec(size=1 << 20, region_id=4,
                                                generation=1,
                                                fill=bytes(1 << 20))],
                           kind=2)
    reply = fields(worker.send({"op": "attach_time", "region": desc}))
    assert set(reply) == {"map_micros"} and int(reply["map_micros"]) >= 0


def test_errors_are_one_line_and_the_worker_keeps_serving(
        worker: WorkerProcess, shm_dir: str) -> None:
    [desc] = write_segment(shm_dir, [RegionSpec(size=64, region_id=5,
                                                generation=5)])
    cases = [
        ("not json at all", "invalid_request"),
        ("", "invalid_request"),
        ("[1,2]", "invalid_request"),
        ('{"op":"nope"}', "invalid_request"),
        ('{"op":"sha256"}', "invalid_request"),
        (json.dumps({"op": "sha256", "region": dict(desc, id="zz")}),
         "invalid_request"),
        (json.dumps({"op": "sha256", "region": dict(desc, generation=6)}),
         "not_found"),
        (json.dumps({"op": "sha256", "region": dict(desc, offset=1 << 30)}),
         "invalid_region"),
        (json.dumps({"op": "fill", "region": dict(desc, access="read_only"),
                     "byte": 1}), "forbidden"),
        (json.dumps({"op": "fill", "region": desc, "byte": 256}),
         "invalid_request"),
        (json.dumps({"op": "scale", "input": desc, "output": desc,
                     "factor": "x"}), "invalid_request"),
        ('{"op":"ping"\u00e9', "invalid_request"),
    ]
    for line, code in cases:
        reply = worker.send_raw(line)
        parts = reply.split(" ", 2)
        assert parts[:2] == ["error", code], (line, reply)
        assert len(parts) == 3 and parts[2]
    assert fields(worker.send({"op": "ping"}))["pid"] == \
        str(worker.process.pid)
    assert read_file(desc["path"], desc["offset"], 64) == pattern(5, 64)


def test_corrupt_region_header_is_invalid_region_and_the_worker_keeps_serving(
        worker: WorkerProcess, shm_dir: str) -> None:
    good, bad = write_segment(shm_dir, [
        RegionSpec(size=200, region_id=6, generation=1),
        RegionSpec(size=200, region_id=7, generation=1)])
    flip_byte(bad["path"], bad["offset"] - 64 + 16)      # its generation
    for op in ({"op": "sha256", "region": bad},
               {"op": "fill", "region": bad, "byte": 1},
               {"op": "hold", "region": bad}):
        reply = worker.send(op)
        assert reply.startswith("error invalid_region "), reply
        assert "region header" in reply and "corrupt" in reply
        assert bad["path"] in reply
    assert read_file(bad["path"], bad["offset"], 200) == pattern(7, 200)
    assert fields(worker.send({"op": "sha256", "region": good}))["sha256"] \
        == hashlib.sha256(pattern(6, 200)).hexdigest()
    assert fields(worker.send({"op": "ping"}))["pid"] == \
        str(worker.process.pid)


def test_exit_replies_and_ends_with_status_zero(worker: WorkerProcess) -> None:
    assert worker.send({"op": "exit"}) == "ok exit=0"
    assert worker.process.wait(timeout=REPLY_TIMEOUT_S) == 0
    assert worker.lines.get(timeout=REPLY_TIMEOUT_S) is None   # nothing else


def test_eof_ends_with_status_zero_and_stdout_holds_only_replies(
        worker: WorkerProcess) -> None:
    fields(worker.send({"op": "ping"}))
    worker.close_stdin()
    assert worker.process.wait(timeout=REPLY_TIMEOUT_S) == 0
    assert worker.lines.get(timeout=REPLY_TIMEOUT_S) is None
    assert worker.process.stderr is not None
    assert b"serving" in worker.process.stderr.read()


def test_hold_keeps_the_region_mapped_and_a_crash_leaves_the_file(
        worker: WorkerProcess, shm_dir: str) -> None:
    [desc] = write_segment(shm_dir, [RegionSpec(size=4096, region_id=6,
                                                generation=2)])
    assert fields(worker.send({"op": "hold", "region": desc})) == {
        "held": "1", "size": "4096"}
    maps = open(f"/proc/{worker.process.pid}/maps").read()
    assert desc["path"] in maps
    assert fields(worker.send({"op": "release_held"})) == {"closed": "1"}
    maps = open(f"/proc/{worker.process.pid}/maps").read()
    assert desc["path"] not in maps
    fields(worker.send({"op": "hold", "region": desc}))
    worker.process.send_signal(signal.SIGKILL)
    assert worker.process.wait(timeout=REPLY_TIMEOUT_S) == -signal.SIGKILL
    assert os.path.exists(desc["path"])
    assert read_file(desc["path"], desc["offset"], 4096) == pattern(6, 4096)

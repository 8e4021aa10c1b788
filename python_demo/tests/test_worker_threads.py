"""The thread worker profile, end to end: a real ``python -m
snakepit_shm.worker --threads N`` child. Requests carry ``req``, replies are
prefixed by it and come in any order; the threads share one segment cache
(one mapping per segment in the worker); every op answers as in the
process profile."""

from __future__ import annotations

import os
import re
import struct
import subprocess
import sys
from typing import Any, Dict, Iterator, List, Tuple

import pytest

from conftest import subprocess_env
from lock_child import LockChild
from segment_builder import RegionSpec, pattern, read_file, write_segment
from worker_process import REPLY_TIMEOUT_S, WorkerProcess, fields

THREADS = 4


@pytest.fixture
def threaded() -> Iterator[WorkerProcess]:
    process = WorkerProcess(["--threads", str(THREADS)])
    try:
        yield process
    finally:
        process.stop()


def tagged(line: str) -> Tuple[str, str]:
    """``"17 ok a=1"`` -> ``("17", "ok a=1")``."""
    req, _, reply = line.partition(" ")
    return req, reply


def replies(worker: WorkerProcess, count: int) -> Dict[int, str]:
    """The next ``count`` reply lines by req (each req once)."""
    found: Dict[int, str] = {}
    for _ in range(count):
        req, reply = tagged(worker.next_line())
        assert int(req) not in found, (req, reply)
        found[int(req)] = reply
    return found


def fds_on(pid: int, path: str) -> int:
    """Descriptors process ``pid`` holds on the file at ``path``."""
    info = os.stat(path)
    count = 0
    for name in os.listdir(f"/proc/{pid}/fd"):
        try:
            other = os.stat(f"/proc/{pid}/fd/{name}")
        except OSError:
            continue
        if (other.st_dev, other.st_ino) == (info.st_dev, info.st_ino):
            count += 1
    return count


def mappings_in(pid: int, path: str) -> int:
    with open(f"/proc/{pid}/maps") as maps:
        return sum(1 for line in maps if line.rstrip().endswith(path))


def test_ping_reports_threads_and_pid(threaded: WorkerProcess) -> None:
    threaded.post({"req": 0, "op": "ping"})
    assert threaded.next_line() == \
        f"0 ok threads={THREADS} pid={threaded.process.pid}"


@pytest.mark.parametrize("line, message", [
    ('{"op":"ping"}', "missing req"),
    ('{"req":-1,"op":"ping"}', "req must be a non-negative integer, got -1"),
    ('{"req":"7","op":"ping"}', 'req must be a non-negative integer, got "7"'),
    ('{"req":true,"op":"ping"}',
     "req must be a non-negative integer, got true"),
    ('{"req":1.5,"op":"ping"}', "req must be a non-negative integer, got 1.5"),
    ("not json", "request is not valid JSON"),
    ("[1, 2]", "request must be a JSON object"),
])
def test_lines_without_a_usable_req_are_answered_with_a_dash(
        threaded: WorkerProcess, line: str, message: str) -> None:
    assert threaded.send_raw(line).startswith(
        f"- error invalid_request {message}")
    threaded.post({"req": 5, "op": "ping"})              # still serving
    assert threaded.next_line().startswith("5 ok threads=")


def test_a_blocked_request_does_not_hold_up_the_others(
        threaded: WorkerProcess, shm_dir: str) -> None:
    """req 1 waits for a write lock another process holds; req 2 and 3 are
    answered meanwhile; req 1 is answered once the lock is free."""
    [desc] = write_segment(shm_dir, [RegionSpec(
        size=64, region_id=9, generation=1, fill=bytes(64))])
    with LockChild("hold", desc) as holder:
        holder.expect("locked")
        threaded.post({"req": 1, "op": "write_consistent", "region": desc,
                       "hex": "aabb", "timeout_ms": 60000})
        threaded.post({"req": 2, "op": "ping"})
        threaded.post({"req": 3, "op": "sha256", "region": desc})
        early = replies(threaded, 2)
        assert set(early) == {2, 3}
        assert early[2].startswith("ok threads=")
        assert fields(early[3])["size"] == "64"
        holder.tell()
        holder.expect("released")
        assert threaded.next_line() == "1 ok bytes=2 seq=2"
    assert read_file(desc["path"], desc["offset"], 2) == b"\xaa\xbb"


def test_threads_share_one_mapping_per_segment(
        threaded: WorkerProcess, shm_dir: str) -> None:
    count, size = 48, 4096
    descs = write_segment(shm_dir, [
        RegionSpec(size=size, region_id=index + 1, generation=1)
        for index in range(count)], segment_bytes=1 << 20)
    path, pid = descs[0]["path"], threaded.process.pid
    req = 0
    expected: Dict[int, Dict[str, str]] = {}
    for index, desc in enumerate(descs):          # hold every region
        req += 1
        threaded.post({"req": req, "op": "hold", "region": desc})
    held = replies(threaded, count)
    assert sorted(int(fields(reply)["held"]) for reply in held.values()) \
        == list(range(1, count + 1))
    assert mappings_in(pid, path) == 1            # one mapping for all 48
    assert fds_on(pid, path) == 1
    for index, desc in enumerate(descs):          # concurrent ops on them
        req += 1
        if index % 2:
            threaded.post({"req": req, "op": "fill", "region": desc,
                           "byte": index})
            expected[req] = {"size": str(size), "byte": str(index)}
        else:
            threaded.post({"req": req, "op": "sha256", "region": desc})
            expected[req] = {"size": str(size)}
    answered = replies(threaded, count)
    assert set(answered) == set(expected)
    for number, reply in answered.items():
        values = fields(reply)
        assert {key: values[key] for key in expected[number]} == \
            expected[number], reply
    assert mappings_in(pid, path) == 1
    threaded.post({"req": 999, "op": "release_held"})
    assert threaded.next_line() == f"999 ok closed={count}"
    assert mappings_in(pid, path) == 0
    assert fds_on(pid, path) == 0
    for index, desc in enumerate(descs):
        data = read_file(path, desc["offset"], size)
        assert data == (bytes([index]) * size if index % 2
                        else pattern(index + 1, size))


def test_exit_waits_for_requests_read_before_it(
        threaded: WorkerProcess, shm_dir: str) -> None:
    [desc] = write_segment(shm_dir, [RegionSpec(
        size=64, region_id=9, generation=1, fill=bytes(64))])
    with LockChild("hold", desc) as holder:
        holder.expect("locked")
        threaded.post({"req": 1, "op": "write_consistent", "region": desc,
                       "hex": "01", "timeout_ms": 60000})
        threaded.post({"req": 2, "op": "exit"})
        holder.tell()
        holder.expect("released")
        assert threaded.next_line() == "1 ok bytes=1 seq=2"
        assert threaded.next_line() == "2 ok exit=0"
    assert threaded.process.wait(timeout=REPLY_TIMEOUT_S) == 0
    assert threaded.lines.get(timeout=REPLY_TIMEOUT_S) is None


def test_eof_ends_the_thread_profile_with_status_zero(
        threaded: WorkerProcess) -> None:
    threaded.post({"req": 4, "op": "ping"})
    assert threaded.next_line().startswith("4 ok")
    threaded.close_stdin()
    assert threaded.process.wait(timeout=REPLY_TIMEOUT_S) == 0
    assert threaded.lines.get(timeout=REPLY_TIMEOUT_S) is None


def same_ops(shm_dir: str) -> List[Dict[str, Any]]:
    """One request of every op (and some failing ones), deterministic
    replies (attach_time's microseconds aside)."""
    values = struct.pack("<4d", 1.5, -2.0, 0.25, 8.0)
    source, target, sync_region, held = write_segment(shm_dir, [
        RegionSpec(size=32, region_id=1, generation=1, fill=values),
        RegionSpec(size=32, region_id=2, generation=1, fill=bytes(32)),
        RegionSpec(size=64, region_id=3, generation=1, fill=bytes(64)),
        RegionSpec(size=128, region_id=4, generation=1)])
    return [
        {"op": "sha256", "region": source},
        {"op": "scale", "input": source, "output": target, "factor": 2.0},
        {"op": "fill", "region": held, "byte": 3},
        {"op": "hold", "region": held},
        {"op": "held_sha256", "index": 0},
        {"op": "release_held"},
        {"op": "write_consistent", "region": sync_region, "hex": "0102"},
        {"op": "write_consistent", "region": sync_region, "offset": 8,
         "fill_u64": 7, "count": 2},
        {"op": "read_consistent", "region": sync_region, "length": 24},
        {"op": "contend", "region": sync_region, "role": "reader",
         "seconds": 0, "words": 2},
        {"op": "sha256", "region": dict(source, generation=2)},
        {"op": "fill", "region": dict(source, access="read_only"),
         "byte": 1},
        {"op": "nope"},
        {"op": "sha256"},
    ]


def normalized(reply: str, directory: str) -> str:
    """A reply without what differs between two runs: the directory and
    segment names, compute microseconds."""
    reply = reply.replace(directory, "DIR")
    reply = re.sub(r"snk[a-z2-7]{22}", "SEGMENT", reply)
    return re.sub(r"micros=\d+", "micros=N", reply)


def test_every_op_answers_as_in_the_process_profile(
        shm_dir: str, tmp_path: Any) -> None:
    """The same requests, one at a time, to a process worker and a thread
    worker (each on fresh segments with the same content): equal replies,
    apart from the req prefix and the pid."""
    answers: List[List[str]] = []
    profiles: List[List[str]] = [[], ["--threads", "3"]]
    for args in profiles:
        directory = os.path.join(shm_dir, f"run{len(answers)}")
        os.mkdir(directory, 0o700)
        worker = WorkerProcess(args)
        try:
            got = []
            for number, request in enumerate(same_ops(directory)):
                if args:
                    req, reply = tagged(worker.send(dict(request,
                                                         req=number)))
                    assert req == str(number)
                else:
                    reply = worker.send(request)
                got.append(normalized(reply, directory))
            answers.append(got)
        finally:
            worker.stop()
    process_replies, thread_replies = answers
    assert thread_replies == process_replies
    assert process_replies[0].startswith("ok sha256=")
    assert process_replies[3] == "ok held=1 size=128"
    assert process_replies[9] == "ok ops=0 torn=0 retries=0"
    assert process_replies[10].startswith("error not_found ")
    assert process_replies[11].startswith("error forbidden ")
    assert process_replies[12].startswith("error invalid_request unknown op")


@pytest.mark.parametrize("value", ["0", "-2", "x"])
def test_a_bad_thread_count_is_refused(value: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "snakepit_shm.worker", "--threads", value],
        env=subprocess_env(), capture_output=True, text=True,
        stdin=subprocess.DEVNULL, timeout=REPLY_TIMEOUT_S)
    assert result.returncode == 2
    assert "--threads needs an integer >= 1" in result.stderr
    assert result.stdout == ""

"""The region write lock (docs/SYNC.md): an OFD lock on the first byte of
the region header, exclusive across real processes, released by the kernel
when its holder dies, per region even inside one segment."""

from __future__ import annotations

import json
import math
import os
import signal
import threading
import time
from typing import Any, Dict, Iterator, List, Tuple

import pytest

from lock_child import LockChild
from segment_builder import RegionSpec, write_segment
from snakepit_shm import (LockTimeoutError, ReadOnlyRegionError,
                          RegionUsageError, attach)

PROMPT_S = 0.5
"""A lock whose holder died must be taken within this (first attempt)."""


def one_region(shm_dir: str, size: int = 4096) -> Dict[str, Any]:
    return write_segment(shm_dir, [RegionSpec(
        size=size, region_id=0x5A, generation=2, fill=bytes(size))])[0]


def ofd_locks_on(path: str) -> List[Tuple[str, int, int]]:
    """``(access, start, end)`` of the OFD locks /proc/locks lists on the
    file at ``path`` (granted ones, not waiters)."""
    info = os.stat(path)
    found = []
    with open("/proc/locks") as locks:
        for line in locks:
            fields = line.split()
            if "->" in fields or len(fields) < 8 or fields[1] != "OFDLCK":
                continue
            major, minor, inode = fields[5].split(":")
            if (int(inode) == info.st_ino
                    and int(major, 16) == os.major(info.st_dev)
                    and int(minor, 16) == os.minor(info.st_dev)):
                end = math.inf if fields[7] == "EOF" else int(fields[7])
                found.append((fields[3], int(fields[6]), end))
    return found


def try_in_child(desc: Dict[str, Any], timeout_s: float) -> Dict[str, Any]:
    """Another process tries the write lock; its JSON verdict."""
    with LockChild("try", desc, str(timeout_s)) as child:
        line = child.readline()
        assert line is not None, child.stderr_now()
        assert child.process.wait(timeout=20) == 0
        return dict(json.loads(line))


@pytest.fixture
def holder_factory() -> Iterator[Any]:
    """Start lock-holding children; all are killed and reaped at the end."""
    children: List[LockChild] = []

    def start(mode: str, desc: Dict[str, Any]) -> LockChild:
        child = LockChild(mode, desc)
        children.append(child)
        return child

    try:
        yield start
    finally:
        for child in children:
            child.stop()


def test_lock_excludes_a_second_process_until_released(
        shm_dir: str, holder_factory: Any) -> None:
    desc = one_region(shm_dir)
    header_byte = desc["offset"] - 64
    holder = holder_factory("hold", desc)
    holder.expect("locked")
    assert ofd_locks_on(desc["path"]) == [("WRITE", header_byte,
                                           header_byte)]

    verdict = try_in_child(desc, 0.3)
    assert verdict["ok"] is False and verdict["code"] == "timeout"
    assert verdict["elapsed_s"] >= 0.3
    assert desc["id"] in verdict["message"]
    assert desc["path"] in verdict["message"]
    assert "0.3 s" in verdict["message"]
    assert f"byte {header_byte}" in verdict["message"]

    holder.tell()
    holder.expect("released")
    assert ofd_locks_on(desc["path"]) == []
    verdict = try_in_child(desc, 0.0)                # one attempt suffices
    assert verdict["ok"] is True, verdict


def test_lock_of_a_killed_holder_is_released_by_the_kernel(
        shm_dir: str, holder_factory: Any) -> None:
    desc = one_region(shm_dir)
    holder = holder_factory("hold", desc)
    holder.expect("locked")
    with attach(desc) as region:
        with pytest.raises(LockTimeoutError) as caught:
            with region.write_lock(timeout_s=0.1):
                pass
        assert caught.value.code == "timeout"
        assert caught.value.details["timeout_s"] == 0.1
        assert caught.value.details["lock_file_offset"] == \
            region.lock_file_offset == desc["offset"] - 64

        assert holder.kill() == -signal.SIGKILL
        started = time.monotonic()
        with region.write_lock(timeout_s=5.0):
            elapsed_s = time.monotonic() - started
            assert ofd_locks_on(desc["path"]) == [
                ("WRITE", region.lock_file_offset, region.lock_file_offset)]
    assert elapsed_s < PROMPT_S
    assert ofd_locks_on(desc["path"]) == []


def test_locks_of_two_regions_in_one_segment_do_not_conflict(
        shm_dir: str, holder_factory: Any) -> None:
    first, second = write_segment(shm_dir, [
        RegionSpec(size=64, region_id=1, generation=1, fill=bytes(64)),
        RegionSpec(size=64, region_id=2, generation=1, fill=bytes(64))])
    assert second["offset"] - 64 == first["offset"] + 64   # adjacent blocks
    holder = holder_factory("hold", first)
    holder.expect("locked")
    with attach(second) as other, attach(first) as held:
        with other.write_lock(timeout_s=0.0):           # first attempt
            assert other.write_consistent(0, b"x" * 64, timeout_s=0.0) == 2
        with pytest.raises(LockTimeoutError):
            held.write_consistent(0, b"y" * 64, timeout_s=0.05)
        assert held.write_seq == 0
        assert held.read_consistent(0, 64) == bytes(64)
    assert try_in_child(second, 0.0)["ok"] is True
    assert try_in_child(first, 0.05)["code"] == "timeout"


def test_two_attaches_in_one_process_exclude_each_other(
        shm_dir: str) -> None:
    desc = one_region(shm_dir)
    with attach(desc) as first, attach(desc) as second:
        with first.write_lock(timeout_s=0.0):
            with pytest.raises(LockTimeoutError, match="another attach"):
                with second.write_lock(timeout_s=0.05):
                    pass
        with second.write_lock(timeout_s=0.0):
            pass


def test_threads_sharing_a_region_exclude_each_other_and_the_holder_reenters(
        shm_dir: str) -> None:
    desc = one_region(shm_dir)
    outcome: Dict[str, Any] = {}
    with attach(desc) as region:
        with region.write_lock(timeout_s=0.0):
            assert region.write_consistent(0, b"abc") == 2    # reentrant
            assert region.read_consistent(0, 3) == b"abc"

            def other_thread() -> None:
                try:
                    with region.write_lock(timeout_s=0.1):
                        outcome["taken"] = True
                except LockTimeoutError as exc:
                    outcome["error"] = exc

            thread = threading.Thread(target=other_thread)
            thread.start()
            thread.join(timeout=10)
            # still held after the inner write: another process is refused
            assert try_in_child(desc, 0.0)["code"] == "timeout"
        assert "taken" not in outcome
        assert "another thread" in outcome["error"].message
        assert try_in_child(desc, 0.0)["ok"] is True


def test_close_releases_the_lock(shm_dir: str) -> None:
    desc = one_region(shm_dir)
    region = attach(desc)
    with region.write_lock():
        region.close()
        assert ofd_locks_on(desc["path"]) == []
        assert try_in_child(desc, 0.0)["ok"] is True
    assert region.closed


def test_read_only_region_reads_consistently_but_cannot_lock(
        shm_dir: str) -> None:
    desc = one_region(shm_dir)
    with attach(desc) as writer:
        writer.write_consistent(0, b"hello")
    with attach(dict(desc, access="read_only")) as region:
        with pytest.raises(ReadOnlyRegionError, match="read_write"):
            with region.write_lock():
                pass
        with pytest.raises(ReadOnlyRegionError):
            region.write_consistent(0, b"x")
        assert region.read_consistent(0, 5) == b"hello"
        assert region.write_seq == 2


@pytest.mark.parametrize("timeout_s", [-1, math.nan, math.inf, "1", True,
                                       None])
def test_invalid_timeouts_are_usage_errors(shm_dir: str,
                                           timeout_s: Any) -> None:
    desc = one_region(shm_dir)
    with attach(desc) as region:
        with pytest.raises(RegionUsageError, match="timeout_s"):
            with region.write_lock(timeout_s=timeout_s):
                pass
        with pytest.raises(RegionUsageError, match="timeout_s"):
            region.read_consistent(0, 1, timeout_s=timeout_s)
        with pytest.raises(RegionUsageError, match="timeout_s"):
            region.write_consistent(0, b"x", timeout_s=timeout_s)
        assert region.write_seq == 0


def test_windowed_region_locks_the_same_byte(
        shm_dir: str, holder_factory: Any) -> None:
    desc = one_region(shm_dir, size=64 * 1024)
    holder = holder_factory("hold", desc)
    holder.expect("locked")
    with attach(desc, max_window_bytes=8192) as region:
        assert region.windowed
        with pytest.raises(LockTimeoutError):
            region.write_consistent(0, b"x", timeout_s=0.05)
        holder.tell()
        holder.expect("released")
        with region.write_lock(timeout_s=5.0):
            assert try_in_child(desc, 0.0)["code"] == "timeout"

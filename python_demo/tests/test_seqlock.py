"""The sequence counter ``write_seq`` (docs/SYNC.md): writers make it odd,
write, make it even; readers never keep a copy made across a write; an odd
counter with nobody holding the lock means a writer died mid-write, and the
next consistent write repairs it. Lock-free reads (x86-64) and the locked
fallback (other architectures) are both exercised."""

from __future__ import annotations

import logging
import signal
import threading
import time
from typing import Any, Dict, Iterator

import pytest

from lock_child import LockChild, poke_seq, pread_seq
from segment_builder import RegionSpec, read_file, write_segment
from snakepit_shm import (InvalidRegionError, LockTimeoutError,
                          RegionUsageError, attach, sync)

SIZE = 64 * 1024


@pytest.fixture(params=["lock_free", "locked_reads"])
def read_mode(request: pytest.FixtureRequest,
              monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Run a test with lock-free reads and again with the fallback that
    holds F_RDLCK around the copy (what non-x86-64 machines use)."""
    if request.param == "lock_free" and not sync.LOCK_FREE_READS:
        pytest.skip("lock-free reads are for x86-64 only")
    monkeypatch.setattr(sync, "LOCK_FREE_READS",
                        request.param == "lock_free")
    yield request.param


@pytest.fixture(params=["full", "windowed"])
def attach_kwargs(request: pytest.FixtureRequest) -> Dict[str, Any]:
    """Attach fully mapped, or windowed with 8 KiB windows."""
    return {} if request.param == "full" else {"max_window_bytes": 8192}


def one_region(shm_dir: str, size: int = SIZE) -> Dict[str, Any]:
    return write_segment(shm_dir, [RegionSpec(
        size=size, region_id=0x5E, generation=9, fill=bytes(size))])[0]


def test_a_fresh_region_has_seq_zero_and_each_write_adds_two(
        shm_dir: str, read_mode: str, attach_kwargs: Dict[str, Any]) -> None:
    desc = one_region(shm_dir)
    data = bytes(range(256)) * (SIZE // 256)
    with attach(desc, **attach_kwargs) as region:
        assert region.write_seq == 0
        assert region.read_snapshot(0, 16) == (bytes(16), 0, 0)
        assert region.write_consistent(0, data) == 2
        assert pread_seq(desc) == 2 == region.write_seq
        assert region.write_consistent(SIZE - 3, b"end") == 4
        expected = data[:SIZE - 3] + b"end"
        assert region.read_consistent(0, SIZE) == expected
        assert region.read_snapshot(100, 50) == (expected[100:150], 4, 0)
        assert region.read_consistent(SIZE, 0) == b""
        with pytest.raises(RegionUsageError, match="outside the payload"):
            region.read_consistent(SIZE - 1, 2)
        with pytest.raises(RegionUsageError, match="outside the payload"):
            region.write_consistent(SIZE - 1, b"ab")
        assert region.write_seq == 4
    assert read_file(desc["path"], desc["offset"], SIZE) == expected
    header = read_file(desc["path"], desc["offset"] - 64, 60)
    with attach(desc) as region:                       # header still valid
        assert region.check().region_id == 0x5E
    assert header == read_file(desc["path"], desc["offset"] - 64, 60)


def test_the_counter_wraps_at_two_to_the_32(shm_dir: str) -> None:
    desc = one_region(shm_dir, 64)
    poke_seq(desc, 0xFFFFFFFE)
    with attach(desc) as region:
        assert region.write_seq == 0xFFFFFFFE
        assert region.write_consistent(0, b"w") == 0
        assert region.read_snapshot(0, 1) == (b"w", 0, 0)


def test_odd_seq_without_a_lock_holder_means_a_writer_died(
        shm_dir: str, read_mode: str, attach_kwargs: Dict[str, Any],
        caplog: pytest.LogCaptureFixture) -> None:
    desc = one_region(shm_dir)
    poke_seq(desc, 7)
    with attach(desc, **attach_kwargs) as region:
        started = time.monotonic()
        with pytest.raises(InvalidRegionError) as caught:
            region.read_consistent(0, 16)
        assert time.monotonic() - started < 1.0       # no waiting it out
        error = caught.value
        assert error.code == "invalid_region"
        assert ("a writer died during a write; the bytes are incomplete"
                in error.message)
        assert desc["id"] in error.message and "7" in error.message
        assert error.details == {"reason": "writer_died", "write_seq": 7}
        assert "write_consistent" in (error.remediation or "")
        with caplog.at_level(logging.WARNING, logger="snakepit_shm"):
            assert region.write_consistent(0, b"repaired") == 8
        assert "write_seq was 7 (odd)" in caplog.text
        assert region.read_consistent(0, 8) == b"repaired"


def test_writer_killed_mid_write_is_detected_then_repaired(
        shm_dir: str, read_mode: str) -> None:
    desc = one_region(shm_dir)
    with attach(desc) as region:
        assert region.write_consistent(0, b"\x01" * SIZE) == 2
        with LockChild("die_mid_write", desc) as child:
            child.expect("dying")
            assert child.process.wait(timeout=20) == -signal.SIGKILL
        assert region.write_seq == 3
        torn = read_file(desc["path"], desc["offset"], SIZE)
        assert torn == b"\xdd" * (SIZE // 2) + b"\x01" * (SIZE // 2)
        with pytest.raises(InvalidRegionError, match="writer died"):
            region.read_consistent(SIZE - 8, 8)        # any range
        assert region.write_consistent(0, b"\x02" * SIZE,
                                       timeout_s=0.0) == 4
        assert region.read_snapshot(0, SIZE) == (b"\x02" * SIZE, 4, 0)


def test_readers_wait_for_a_live_writer_and_never_see_its_half_write(
        shm_dir: str, read_mode: str, attach_kwargs: Dict[str, Any]) -> None:
    desc = one_region(shm_dir)
    with LockChild("hold_odd", desc) as child:
        child.expect("locked")                # seq 1, first half written
        with attach(desc, **attach_kwargs) as region:
            with pytest.raises(LockTimeoutError) as caught:
                region.read_consistent(0, SIZE, timeout_s=0.2)
            assert caught.value.code == "timeout"
            assert "0.2 s" in caught.value.message
            timer = threading.Timer(0.3, child.tell)
            timer.start()
            try:
                started = time.monotonic()
                snapshot = region.read_snapshot(0, SIZE, timeout_s=10.0)
                waited_s = time.monotonic() - started
            finally:
                timer.cancel()
        child.expect("released")
    assert snapshot.data == b"\xee" * SIZE and snapshot.seq == 2
    assert waited_s >= 0.25
    if read_mode == "lock_free":
        assert snapshot.retries >= 1


def test_a_thread_mid_write_makes_other_threads_wait_not_fail(
        shm_dir: str, read_mode: str) -> None:
    """The Region's own lock holder is invisible to F_OFD_GETLK (same open
    file description): a reader thread must still see it as a live
    writer."""
    desc = one_region(shm_dir, 64)
    outcome: Dict[str, Any] = {}
    with attach(desc) as region:
        def reader() -> None:
            try:
                outcome["data"] = region.read_consistent(0, 4, timeout_s=0.2)
            except Exception as exc:                  # noqa: BLE001
                outcome["error"] = exc

        with region.write_lock():
            poke_seq(desc, 1)                         # "mid-write"
            thread = threading.Thread(target=reader)
            thread.start()
            thread.join(timeout=10)
            poke_seq(desc, 2)
        assert isinstance(outcome.get("error"), LockTimeoutError), outcome
        assert region.read_consistent(0, 4) == bytes(4)


def test_seq_is_visible_to_a_fresh_mapping_and_the_file(
        shm_dir: str) -> None:
    desc = one_region(shm_dir, 64)
    with attach(desc) as writer, attach(desc,
                                        max_window_bytes=4096) as other:
        writer.write_consistent(0, b"a")
        writer.write_consistent(1, b"b")
        assert other.write_seq == 4 == pread_seq(desc)
        assert other.read_consistent(0, 2) == b"ab"

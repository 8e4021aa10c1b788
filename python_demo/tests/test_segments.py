"""One mapping per segment (snakepit_shm.segments): regions of a segment
share one mapping and one descriptor, per access mode, reference-counted
by the open regions; the checks, the write lock and busy/abandon rules
still hold per region; many threads attach and close regions of one
segment at once."""

from __future__ import annotations

import os
import random
import signal
import struct
import threading
import time
from typing import Any, Dict, List

import pytest

from lock_child import poke_seq
from segment_builder import (RegionSpec, flip_byte, pattern, read_file,
                             set_region_state, write_segment)
from snakepit_shm import (InvalidRegionError, LockTimeoutError,
                          RegionBusyError, StaleDescriptorError, attach)
from snakepit_shm.segments import (MMAP_TRACKFD, SegmentCache,
                                   default_cache)

try:
    import numpy as np
except ImportError:  # pragma: no cover - numpy is optional
    np = None

requires_numpy = pytest.mark.skipif(np is None, reason="numpy not installed")

POOLED_BYTES = 1 << 20


def pooled(shm_dir: str, count: int, size: int = 1000,
           fill: Any = None) -> List[Dict[str, Any]]:
    """``count`` regions of ``size`` bytes in one pooled segment."""
    return write_segment(shm_dir, [
        RegionSpec(size=size, region_id=index + 1, generation=1, fill=fill)
        for index in range(count)], segment_bytes=POOLED_BYTES)


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def fds_on(path: str) -> int:
    """Descriptors of this process open on the file at ``path``."""
    info = os.stat(path)
    count = 0
    for name in os.listdir("/proc/self/fd"):
        try:
            other = os.stat(f"/proc/self/fd/{name}")
        except OSError:
            continue                     # the listing's own descriptor
        if (other.st_dev, other.st_ino) == (info.st_dev, info.st_ino):
            count += 1
    return count


def mappings_of(path: str) -> List[List[str]]:
    """/proc/self/maps lines (split) mapping ``path``, also once
    deleted."""
    found = []
    with open("/proc/self/maps") as maps:
        for line in maps:
            parts = line.split(maxsplit=5)
            if len(parts) == 6 and parts[5].rstrip("\n").split(" (")[0] \
                    == path:
                found.append(parts)
    return found


@pytest.fixture(autouse=True)
def cache_is_empty_afterwards() -> Any:
    """Every test leaves the process-wide cache as it found it: empty."""
    assert default_cache().snapshot() == []
    yield
    assert default_cache().snapshot() == []


def test_two_hundred_regions_of_one_segment_open_one_descriptor(
        shm_dir: str) -> None:
    descs = pooled(shm_dir, 200)
    path = descs[0]["path"]
    before = open_fds()
    regions = [attach(desc) for desc in descs]
    try:
        assert open_fds() == before + 1
        assert fds_on(path) == 1
        assert len(mappings_of(path)) == 1           # one mapping, all of it
        [entry] = default_cache().snapshot()
        assert (entry.regions, entry.mapped_bytes) == (200, POOLED_BYTES)
        assert all(region.segment_regions == 200 for region in regions)
        for index in (0, 99, 199):
            assert regions[index].read(0, 1000) == pattern(index + 1, 1000)
    finally:
        for region in regions:
            region.close()
    assert open_fds() == before
    assert mappings_of(path) == []
    assert regions[0].segment_regions == 0


def test_the_write_lock_needs_one_more_descriptor_per_segment_at_most(
        shm_dir: str) -> None:
    descs = pooled(shm_dir, 50, size=64, fill=bytes(64))
    path = descs[0]["path"]
    regions = [attach(desc) for desc in descs]
    try:
        for region in regions:
            assert region.write_consistent(0, b"locked") == 2
            assert region.read_consistent(0, 6) == b"locked"
        # before Python 3.13 the mapping holds a duplicate and the lock
        # needs a descriptor of the entry's own; from 3.13 it is the same
        assert fds_on(path) == (1 if MMAP_TRACKFD else 2)
        assert len(mappings_of(path)) == 1
    finally:
        for region in regions:
            region.close()
    assert fds_on(path) == 0


@requires_numpy
def test_read_only_descriptors_get_their_own_read_only_mapping(
        shm_dir: str) -> None:
    first, second = pooled(shm_dir, 2)
    path = first["path"]
    with attach(first) as writer, \
            attach(dict(second, access="read_only")) as reader, \
            attach(dict(first, access="read_only")) as reader2:
        spans = mappings_of(path)
        assert sorted(parts[1] for parts in spans) == ["r--s", "rw-s"]
        assert fds_on(path) == 2                     # one per mode
        view = reader.memoryview
        assert view.readonly
        view.release()
        array = reader2.numpy()
        assert not array.flags.writeable
        with pytest.raises(ValueError):
            array.flags.writeable = True
        writer.write(0, b"shared")                   # one file, both modes
        assert bytes(array[:6]) == b"shared"
        del array
        assert {(entry.read_only, entry.regions)
                for entry in default_cache().snapshot()} == {(False, 1),
                                                             (True, 2)}
    assert mappings_of(path) == []


def test_neighbours_share_the_mapping_but_not_their_bytes(
        shm_dir: str) -> None:
    first, second, third = pooled(shm_dir, 3, size=100)
    with attach(first) as one, attach(second) as two, attach(third) as three:
        view = two.memoryview
        view[:] = b"\xab" * 100
        view.release()
        assert two.read(0, 100) == b"\xab" * 100
        assert one.read(0, 100) == pattern(1, 100)
        assert three.read(0, 100) == pattern(3, 100)
        with attach(second) as again:                # the same bytes
            assert again.read(0, 100) == b"\xab" * 100
    # block padding after the payload (100 -> 128 bytes) untouched
    assert read_file(second["path"], second["offset"] + 100, 28) == bytes(28)


def test_checks_run_at_every_attach_of_a_mapped_segment(
        shm_dir: str) -> None:
    first, second, third = pooled(shm_dir, 3)
    with attach(first) as region:
        set_region_state(second, 2)                  # freed meanwhile
        with pytest.raises(StaleDescriptorError, match="freed"):
            attach(second)
        flip_byte(third["path"], 100)                # segment header CRC
        with pytest.raises(InvalidRegionError, match="segment header is "
                                                     "corrupt"):
            attach(third)
        assert region.read(0, 1000) == pattern(1, 1000)
        [entry] = default_cache().snapshot()
        assert entry.regions == 1                    # failures leak nothing
        assert region.check().is_live


def test_a_removed_segment_file_is_stale_for_new_attaches_only(
        shm_dir: str) -> None:
    first, second = pooled(shm_dir, 2)
    path = first["path"]
    with attach(first) as region:
        os.unlink(path)                              # as the manager does
        with pytest.raises(StaleDescriptorError, match="does not exist"):
            attach(second)
        assert region.read(0, 1000) == pattern(1, 1000)
        assert len(mappings_of(path)) == 1           # "(deleted)"
    assert mappings_of(path) == []


def test_a_replaced_file_is_another_segment(shm_dir: str) -> None:
    [old] = write_segment(shm_dir, [RegionSpec(
        size=64, region_id=7, generation=1, fill=b"o" * 64)])
    [new] = write_segment(shm_dir, [RegionSpec(
        size=64, region_id=7, generation=1, fill=b"n" * 64)])
    with attach(old) as before:
        os.replace(new["path"], old["path"])         # same path, new inode
        with attach(old) as after:
            assert before.read(0, 64) == b"o" * 64
            assert after.read(0, 64) == b"n" * 64
            entries = default_cache().snapshot()
            assert [entry.path for entry in entries] == [old["path"]] * 2
            assert len(mappings_of(old["path"])) == 2
        with attach(old) as again:
            assert again.read(0, 64) == b"n" * 64


@requires_numpy
def test_a_busy_region_keeps_the_segment_mapped_its_neighbours_close(
        shm_dir: str) -> None:
    first, second = pooled(shm_dir, 2)
    busy, free = attach(first), attach(second)
    array = busy.numpy()
    head = busy.memoryview[:4]
    free.close()                                     # not busy
    with pytest.raises(RegionBusyError):
        busy.close()
    del array
    with pytest.raises(RegionBusyError):             # the slice still lives
        busy.close()
    assert bytes(head) == pattern(1, 4)
    head.release()
    busy.close()
    assert busy.closed and free.closed
    assert mappings_of(first["path"]) == []


@requires_numpy
def test_an_abandoned_region_forgets_the_segment_views_stay_valid(
        shm_dir: str) -> None:
    [desc] = pooled(shm_dir, 1)
    kept = None
    with pytest.raises(KeyError):
        with attach(desc) as region:
            kept = region.numpy()
            raise KeyError("boom")
    assert region.closed
    assert default_cache().snapshot() == []          # forgotten at once
    assert bytes(kept[:4]) == pattern(1, 4)          # still mapped
    assert len(mappings_of(desc["path"])) == 1
    with attach(desc) as fresh:                      # a new mapping
        assert len(mappings_of(desc["path"])) == 2
        assert fresh.read(0, 4) == pattern(1, 4)
    del kept                                         # last view: unmapped
    assert mappings_of(desc["path"]) == []


def test_a_region_dropped_without_close_gives_its_reference_back(
        shm_dir: str) -> None:
    [desc] = pooled(shm_dir, 1)
    assert attach(desc).read(0, 4) == pattern(1, 4)  # never closed
    assert default_cache().snapshot() == []          # handed back
    assert mappings_of(desc["path"]) == []


def test_windowed_and_viewed_regions_share_the_entry(shm_dir: str) -> None:
    descs = pooled(shm_dir, 20, size=3 * 4096)
    path = descs[0]["path"]
    windowed = [attach(desc, max_window_bytes=4096) for desc in descs[:10]]
    viewed = [attach(desc) for desc in descs[10:]]
    try:
        assert all(region.windowed for region in windowed)
        assert not any(region.windowed for region in viewed)
        [entry] = default_cache().snapshot()
        assert entry.regions == 20 and entry.own_descriptor
        # the entry's descriptor, plus the mapping's duplicate before 3.13
        assert fds_on(path) == (1 if MMAP_TRACKFD else 2)
        assert len(mappings_of(path)) == 1
        for index, region in enumerate(windowed + viewed):
            assert region.read(0, 3 * 4096) == pattern(index + 1, 3 * 4096)
    finally:
        for region in windowed + viewed:
            region.close()
    assert fds_on(path) == 0 and mappings_of(path) == []


def test_two_attaches_of_one_region_in_two_threads_exclude_each_other(
        shm_dir: str) -> None:
    """Every attach shares the segment's open file description, which the
    kernel's OFD lock does not tell apart: the lock table must exclude them.
    Read-modify-write of a counter loses no increment."""
    [desc] = pooled(shm_dir, 1, size=64, fill=bytes(64))
    threads, rounds = 6, 150
    failures: List[BaseException] = []
    start = threading.Barrier(threads)

    def bump() -> None:
        try:
            start.wait()
            for _ in range(rounds):
                with attach(desc) as region:
                    with region.write_lock(timeout_s=60.0):
                        (value,) = struct.unpack("<Q", region.read(0, 8))
                        os.sched_yield()         # invite a lost update
                        region.write(0, struct.pack("<Q", value + 1))
        except BaseException as exc:             # reported below
            failures.append(exc)

    workers = [threading.Thread(target=bump) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert failures == []
    assert struct.unpack("<Q", read_file(desc["path"], desc["offset"], 8)) \
        == (threads * rounds,)


def test_a_reader_sees_a_writer_of_another_attach_as_active(
        shm_dir: str) -> None:
    """A writer in this process holds the lock through the shared
    description with write_seq odd: a reader of another attach must wait
    for it (timeout), not call it dead."""
    [desc] = pooled(shm_dir, 1, size=64, fill=bytes(64))
    with attach(desc) as writer, attach(desc) as reader:
        with writer.write_lock(timeout_s=0.0):
            poke_seq(desc, 1)                        # a write in progress
            with pytest.raises(LockTimeoutError, match="writers kept"):
                reader.read_consistent(0, 8, timeout_s=0.05)
            poke_seq(desc, 2)
        assert reader.read_consistent(0, 8) == bytes(8)


def test_close_releases_the_lock_for_other_attaches(shm_dir: str) -> None:
    [desc] = pooled(shm_dir, 1, size=64, fill=bytes(64))
    holder = attach(desc)
    with attach(desc) as other:
        with holder.write_lock():
            with pytest.raises(LockTimeoutError, match="another attach"):
                other.write_consistent(0, b"x", timeout_s=0.0)
            holder.close()                           # inside the block
            assert other.write_consistent(0, b"x", timeout_s=0.0) == 2
    assert holder.closed


def test_a_separate_cache_is_another_open_file_description(
        shm_dir: str) -> None:
    [desc] = pooled(shm_dir, 1, size=64, fill=bytes(64))
    own = SegmentCache()
    with attach(desc) as shared, attach(desc, cache=own) as separate:
        assert len(mappings_of(desc["path"])) == 2
        with shared.write_lock(timeout_s=0.0):
            with pytest.raises(LockTimeoutError, match="another process"):
                separate.write_consistent(0, b"x", timeout_s=0.05)
        assert separate.write_consistent(0, b"y", timeout_s=0.0) == 2
        assert own.snapshot()[0].regions == 1
    assert own.snapshot() == []


def test_threads_hammer_attach_and_close_on_one_segment(shm_dir: str) -> None:
    """Eight threads attach and close regions of one segment at random,
    mixing modes (read_write, read_only, windowed); each thread writes a
    tag into the regions it owns and every attach checks the bytes it
    sees. Afterwards nothing is left open and every region holds its
    owner's last tag."""
    threads, rounds, count, size = 8, 400, 64, 2 * 4096
    descs = pooled(shm_dir, count, size=size)
    path = descs[0]["path"]
    before = open_fds()
    failures: List[BaseException] = []
    last_tag: Dict[int, bytes] = {}
    start = threading.Barrier(threads)

    def tag(owner: int, step: int) -> bytes:
        return struct.pack("<II", owner, step) * 2

    def hammer(owner: int) -> None:
        rng = random.Random(owner)
        mine = [index for index in range(count) if index % threads == owner]
        try:
            start.wait()
            for step in range(rounds):
                index = rng.randrange(count)
                desc = descs[index]
                mode = rng.choice(("read_write", "read_only", "windowed"))
                if mode == "read_only":
                    region = attach(dict(desc, access="read_only"))
                elif mode == "windowed":
                    region = attach(desc, max_window_bytes=4096)
                else:
                    region = attach(desc)
                with region:
                    body = region.read(16, size - 16)
                    assert body == pattern(index + 1, size)[16:], index
                    if index in mine and mode != "read_only":
                        region.write(0, tag(owner, step))
                        assert region.read(0, 16) == tag(owner, step)
                        last_tag[index] = tag(owner, step)
                    elif index in mine and index in last_tag:
                        assert region.read(0, 16) == last_tag[index]
        except BaseException as exc:             # reported below
            failures.append(exc)

    workers = [threading.Thread(target=hammer, args=(owner,))
               for owner in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert failures == []
    assert len(last_tag) > count // 2
    assert open_fds() == before
    assert mappings_of(path) == []
    for index, expected in last_tag.items():
        desc = descs[index]
        assert read_file(path, desc["offset"], 16) == expected


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_child_forked_while_a_thread_holds_the_cache_lock_can_attach(
        shm_dir: str) -> None:
    """The lock is held by another thread at fork time; the child has no
    such thread, so without fresh locks after fork its attach would hang.
    The child attaches a region of a segment the parent has mapped and
    reports the bytes through its exit status."""
    first, second = pooled(shm_dir, 2)
    cache = default_cache()
    taken, release = threading.Event(), threading.Event()

    def hold_the_lock() -> None:
        with cache._lock:
            taken.set()
            release.wait()

    with attach(first) as region:
        holder = threading.Thread(target=hold_the_lock)
        holder.start()
        taken.wait()
        try:
            pid = os.fork()
            if pid == 0:                             # the child
                status = 1
                try:
                    with attach(second) as other:
                        status = 0 if other.read(0, 8) == pattern(2, 8) \
                            else 2
                finally:
                    os._exit(status)
        finally:
            release.set()
            holder.join()
        deadline = 200                               # x 0.1 s: never hang
        while True:
            done, wait_status = os.waitpid(pid, os.WNOHANG)
            if done or deadline == 0:
                break
            deadline -= 1
            time.sleep(0.1)
        if not done:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        assert done and os.waitstatus_to_exitcode(wait_status) == 0
        assert region.read(0, 8) == pattern(1, 8)

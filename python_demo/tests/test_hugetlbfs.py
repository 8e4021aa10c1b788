"""Segments on hugetlbfs: mappings start and end on 2 MiB boundaries.

The ``hugetlbfs_dir`` fixture (root only, skipped otherwise) mounts a real
hugetlbfs with 2 MiB pages. Segments there are written by the builder
through mappings (``pwrite`` fails on hugetlbfs), sized in whole huge pages
as a manager started with ``--shm-dir`` on such a mount sizes them.
"""

from __future__ import annotations

import errno
import hashlib
import mmap
import os
import struct
from typing import Any, Dict, List, Tuple

import pytest

from segment_builder import (R_GENERATION, RegionSpec, flip_byte,
                             huge_page_bytes, pattern, poke,
                             poke_region_field, read_file, read_mapped,
                             set_region_state, write_segment)
from snakepit_shm import (InvalidRegionError, LockTimeoutError,
                          StaleDescriptorError, attach)
from snakepit_shm.geometry import (PAGE_GRANULE_BYTES, file_geometry,
                                   mount_fs_type, parse_mountinfo_fs_type)
from test_address_space import run_child
from worker_process import WorkerProcess, fields

MIB = 1024 * 1024
HUGE = 2 * MIB
SEGMENT_BYTES = 4 * MIB


def mapped_spans(path: str) -> List[Tuple[int, int]]:
    """``(file_offset, length)`` of each mapping of ``path`` in this
    process, from /proc/self/maps."""
    spans = []
    with open("/proc/self/maps") as maps:
        for line in maps:
            parts = line.split()
            if len(parts) >= 6 and parts[5] == path:
                low, high = (int(value, 16) for value in parts[0].split("-"))
                spans.append((int(parts[2], 16), high - low))
    return spans


def huge_region(directory: str, payload_offset: int, size: int,
                segment_bytes: int = SEGMENT_BYTES,
                region_id: int = 0x51) -> Dict[str, Any]:
    [desc] = write_segment(directory, [RegionSpec(
        size=size, region_id=region_id, generation=5,
        offset=payload_offset)], segment_bytes=segment_bytes)
    return desc


# --- detection ---------------------------------------------------------------

def test_mountinfo_parser_finds_the_type_by_device() -> None:
    text = (
        "22 1 0:21 / /dev/shm rw,nosuid,nodev shared:3 - tmpfs tmpfs rw\n"
        "42 27 0:39 / /mnt/huge rw,relatime - hugetlbfs none "
        "rw,pagesize=2M\n"
        "43 27 0:40 / /mnt/nfs rw shared:9 master:2 - nfs4 srv:/x rw\n")
    assert parse_mountinfo_fs_type(text, 0, 39) == "hugetlbfs"
    assert parse_mountinfo_fs_type(text, 0, 40) == "nfs4"
    assert parse_mountinfo_fs_type(text, 0, 21) == "tmpfs"
    assert parse_mountinfo_fs_type(text, 8, 1) is None
    assert parse_mountinfo_fs_type("garbage\n1 2 0:39 x\n", 0, 39) is None


def test_tmpfs_keeps_the_page_granule(shm_dir: str) -> None:
    desc = huge_region(shm_dir, payload_offset=4096 + 320, size=1000,
                       segment_bytes=8192 + 1024)
    with attach(desc) as region:
        assert region.granule_bytes == mmap.ALLOCATIONGRANULARITY
        assert region.map_offset_bytes == 0            # the whole segment
        assert region.map_length_bytes == 8192 + 1024  # exact, not rounded
        pages = -(-(8192 + 1024) // mmap.PAGESIZE) * mmap.PAGESIZE
        assert mapped_spans(desc["path"]) == [(0, pages)]
    assert mapped_spans(desc["path"]) == []
    fd = os.open(desc["path"], os.O_RDONLY)
    try:
        geometry = file_geometry(fd, os.fstat(fd).st_size)
    finally:
        os.close(fd)
    assert geometry.granule_bytes == PAGE_GRANULE_BYTES
    assert not geometry.huge_pages


def test_hugetlbfs_is_detected(hugetlbfs_dir: str) -> None:
    device = os.stat(hugetlbfs_dir).st_dev
    assert mount_fs_type(os.major(device), os.minor(device)) == "hugetlbfs"
    assert huge_page_bytes(hugetlbfs_dir) == HUGE
    desc = huge_region(hugetlbfs_dir, payload_offset=320, size=64)
    fd = os.open(desc["path"], os.O_RDONLY)
    try:
        geometry = file_geometry(fd, os.fstat(fd).st_size)
    finally:
        os.close(fd)
    assert geometry.granule_bytes == HUGE and geometry.huge_pages
    assert geometry.fs_type == "hugetlbfs"


# --- the builder -------------------------------------------------------------

def test_builder_writes_hugetlbfs_segments_through_mappings(
        hugetlbfs_dir: str) -> None:
    [first, second] = write_segment(hugetlbfs_dir, [
        RegionSpec(size=5000, region_id=1, generation=1),
        RegionSpec(size=3000, region_id=2, generation=1, offset=HUGE + 320)])
    path = first["path"]
    assert os.path.getsize(path) == SEGMENT_BYTES      # whole huge pages
    assert read_file(path, 0, 8) == b"SNKSEG01"        # pread works
    assert struct.unpack("<Q", read_file(path, 16, 8))[0] == SEGMENT_BYTES
    for desc, region_id, size in ((first, 1, 5000), (second, 2, 3000)):
        assert read_file(path, desc["offset"], size) == \
            pattern(region_id, size)
    fd = os.open(path, os.O_RDWR)
    try:                   # why the builder and the package never pwrite
        with pytest.raises(OSError) as info:
            os.pwrite(fd, b"x", 0)
        assert info.value.errno == errno.EINVAL
        with pytest.raises(OSError) as info:    # nor map at a page offset
            mmap.mmap(fd, 4096, offset=4096)
        assert info.value.errno == errno.EINVAL
    finally:
        os.close(fd)


# --- attach ------------------------------------------------------------------

@pytest.mark.parametrize("payload_offset", [320, HUGE + 320, HUGE - 64 * 4])
def test_attach_maps_whole_huge_pages(hugetlbfs_dir: str,
                                      payload_offset: int) -> None:
    np = pytest.importorskip("numpy")
    size = 8 * 1000 + 8 * 64 * 1024          # crosses 2 MiB for HUGE - 256
    desc = huge_region(hugetlbfs_dir, payload_offset, size)
    path = desc["path"]
    header_at = payload_offset - 64
    with attach(desc) as region:
        assert region.granule_bytes == HUGE
        assert header_at // HUGE * HUGE <= header_at    # in some huge page
        assert region.map_offset_bytes == 0             # the whole segment,
        assert region.map_length_bytes == SEGMENT_BYTES  # whole huge pages
        assert region.map_length_bytes >= payload_offset + size
        [(offset, length)] = mapped_spans(path)
        assert (offset, length) == (0, SEGMENT_BYTES)
        assert region.read(0, size) == pattern(0x51, size)
        assert region.segment_header.segment_bytes == SEGMENT_BYTES
        array = region.numpy("<f8")
        array[:] = np.arange(size // 8, dtype="<f8") * 0.5
        del array
        view = region.memoryview
        assert len(view) == size
        view[:5] = b"hello"
        view[size - 3:] = b"end"
        view.release()
        assert region.write(8, struct.pack("<d", -1.25)) == 8
        with attach(desc) as other:                    # a second mapping
            assert other.read(0, 5) == b"hello"
            assert struct.unpack("<d", other.read(8, 8))[0] == -1.25
            assert struct.unpack("<d", other.read(16, 8))[0] == 1.0
        with attach(dict(desc, access="read_only")) as reader:
            values = reader.numpy("<f8")
            assert not values.flags.writeable
            assert values[3] == 1.5
            assert values[-2] == (size // 8 - 2) * 0.5
            assert reader.read(size - 3, 3) == b"end"
            del values
    assert mapped_spans(path) == []                     # really unmapped
    independent = read_mapped(path, payload_offset, size, page_bytes=HUGE)
    assert independent[:5] == b"hello" and independent[-3:] == b"end"
    assert struct.unpack("<d", independent[8:16])[0] == -1.25
    assert struct.unpack("<d", independent[24:32])[0] == 1.5
    assert read_file(path, payload_offset, size) == independent


def test_numpy_writes_are_shared_between_two_regions(
        hugetlbfs_dir: str) -> None:
    np = pytest.importorskip("numpy")
    size = 3 * MIB                          # spans the 2 MiB page boundary
    desc = huge_region(hugetlbfs_dir, 320, size)
    with attach(desc) as writer, attach(desc) as reader:
        out = writer.numpy("<f8")
        seen = reader.numpy("<f8")
        out[:] = np.arange(out.size, dtype="<f8")
        assert np.array_equal(seen, out)
        assert seen[HUGE // 8] == HUGE // 8
        del out, seen
    digest = hashlib.sha256(np.arange(size // 8, dtype="<f8").tobytes())
    assert hashlib.sha256(
        read_mapped(desc["path"], 320, size, page_bytes=HUGE)).hexdigest() \
        == digest.hexdigest()


# --- windowed mode -----------------------------------------------------------

def test_windowed_mode_uses_huge_page_windows(hugetlbfs_dir: str) -> None:
    size = 6 * MIB + 1000
    desc = huge_region(hugetlbfs_dir, 320, size, segment_bytes=8 * MIB)
    path = desc["path"]
    expected = pattern(0x51, size)
    with attach(desc, max_window_bytes=4096) as region:
        assert region.windowed and region.granule_bytes == HUGE
        assert region.window_bytes == HUGE             # one granule at least
        assert region.map_offset_bytes == 0
        assert mapped_spans(path) == []
        spans = []
        for offset, view in region.windows():
            [(map_offset, map_length)] = mapped_spans(path)
            assert map_offset % HUGE == 0 and map_length == HUGE
            assert bytes(view) == expected[offset:offset + len(view)]
            spans.append((offset, len(view)))
        assert mapped_spans(path) == []
        assert spans == [(0, HUGE - 320), (HUGE - 320, HUGE),
                         (2 * HUGE - 320, HUGE), (3 * HUGE - 320, 1000 + 320)]
        boundary = HUGE - 320
        data = bytes(range(256)) * 16
        assert region.write(boundary - 100, data) == len(data)
        assert region.read(boundary - 100, len(data)) == data
        assert region.read(0, size)[:boundary - 100] == \
            expected[:boundary - 100]
        assert [len(view) for _, view in region.windows(3 * MIB)] == \
            [length for _, length in spans]           # rounded to 2 MiB
        assert mapped_spans(path) == []
    assert read_mapped(path, 320 + boundary - 100, len(data),
                       page_bytes=HUGE) == data
    with attach(desc, max_window_bytes=5 * MIB) as region:
        assert region.window_bytes == 4 * MIB
        assert [len(view) for _, view in region.windows()] == \
            [2 * HUGE - 320, 1000 + HUGE + 320]
        assert region.read(0, size) == read_file(path, 320, size)
    with attach(desc) as region:                       # full mode slices
        assert [len(view) for _, view in region.windows(1)] == \
            [length for _, length in spans]


def test_worker_serves_hugetlbfs_regions(hugetlbfs_dir: str) -> None:
    size = 3 * MIB + 64
    desc = huge_region(hugetlbfs_dir, HUGE - 128, size,
                       segment_bytes=6 * MIB)
    worker = WorkerProcess()
    try:
        reply = fields(worker.send({"op": "sha256", "region": desc}))
        assert reply["sha256"] == hashlib.sha256(
            pattern(0x51, size)).hexdigest()
        fields(worker.send({"op": "fill", "region": desc, "byte": 7}))
        assert fields(worker.send({"op": "exit"}))["exit"] == "0"
        assert worker.process.wait(timeout=20) == 0
    finally:
        worker.stop()
    assert read_mapped(desc["path"], desc["offset"], size,
                       page_bytes=HUGE) == b"\x07" * size


# --- header checks -----------------------------------------------------------

@pytest.mark.parametrize("max_window_bytes", [None, HUGE])
def test_header_checks_on_hugetlbfs(hugetlbfs_dir: str,
                                    max_window_bytes: Any) -> None:
    desc = huge_region(hugetlbfs_dir, HUGE + 320, 4096)
    with pytest.raises(StaleDescriptorError, match="generation"):
        attach(dict(desc, generation=6), max_window_bytes=max_window_bytes)
    with attach(desc, max_window_bytes=max_window_bytes) as region:
        assert region.check().is_live
        set_region_state(desc, 2)                      # written via mmap
        with pytest.raises(StaleDescriptorError, match="freed"):
            region.check()
        set_region_state(desc, 1)
        flip_byte(desc["path"], desc["offset"] - 64 + R_GENERATION)
        with pytest.raises(InvalidRegionError, match="corrupt"):
            region.check()                             # header CRC
        flip_byte(desc["path"], desc["offset"] - 64 + R_GENERATION)
        poke_region_field(desc, R_GENERATION, "<Q", 9)   # block reused
        with pytest.raises(StaleDescriptorError, match="generation=9"):
            region.check()
    with pytest.raises(StaleDescriptorError):
        attach(desc, max_window_bytes=max_window_bytes)
    assert mapped_spans(desc["path"]) == []


# --- address space under pressure ----------------------------------------

@pytest.mark.huge_pages(56)
def test_enomem_fallback_halves_in_huge_pages(hugetlbfs_dir: str) -> None:
    """A child under a real RLIMIT_AS (VmSize + 24 MiB) attaches a 96 MiB
    hugetlbfs region: the full mapping and 64 MiB windows fail with ENOMEM,
    windows are halved in whole huge pages until they map."""
    size = 96 * MIB
    [desc] = write_segment(hugetlbfs_dir, [RegionSpec(
        size=size, region_id=3, generation=1, fill=b"")], kind=2)
    markers = [(0, b"first"), (HUGE - 320 - 3, b"straddle"),
               (size - 4, b"last")]
    for offset, data in markers:
        poke(desc["path"], desc["offset"] + offset, f"{len(data)}s", data)
    with attach(desc) as region:
        expected_sha = hashlib.sha256(region.memoryview).hexdigest()
    child = run_child(desc, 24 * MIB, [(at, len(data)) for at, data in
                                       markers],
                      [(32 * MIB - 320 - 2, b"child")])
    assert child["windowed"] is True and child["live"] is True
    assert child["sha256"] == expected_sha
    assert [text.encode("latin-1") for text in child["reads"]] == \
        [data for _, data in markers]
    assert child["window_bytes"] < 64 * MIB
    assert child["window_bytes"] % HUGE == 0
    warnings = [text for level, text in child["records"]
                if level == "WARNING"]
    assert any("mapping the whole segment" in text and
               "huge page pool" in text for text in warnings), warnings
    assert any("retrying with windows" in text for text in warnings)
    assert read_mapped(desc["path"], desc["offset"] + 32 * MIB - 320 - 2, 5,
                       page_bytes=HUGE) == b"child"


def test_write_lock_and_write_seq_on_hugetlbfs(hugetlbfs_dir: str) -> None:
    """The lock byte and write_seq live in the huge page before the
    payload's: both modes reach them through whole-huge-page mappings."""
    desc = huge_region(hugetlbfs_dir, payload_offset=HUGE + 64, size=4096)
    data = bytes(range(256)) * 16
    with attach(desc) as region, \
            attach(desc, max_window_bytes=HUGE) as windowed:
        assert windowed.windowed and region.lock_file_offset == HUGE
        assert region.write_consistent(0, data) == 2
        assert windowed.read_snapshot(0, 4096) == (data, 2, 0)
        assert windowed.write_consistent(10, b"yy") == 4
        assert region.read_consistent(8, 4) == data[8:10] + b"yy"
        with region.write_lock(timeout_s=0.0):
            with pytest.raises(LockTimeoutError):
                windowed.write_consistent(0, b"z", timeout_s=0.05)
        assert windowed.write_seq == 4
    assert struct.unpack("<I", read_mapped(desc["path"], HUGE + 60, 4,
                                           page_bytes=HUGE)) == (4,)

"""attach() maps exactly the payload, zero-copy, with the given access."""

from __future__ import annotations

import os
import sys
from typing import Any, Dict, List

import pytest

from segment_builder import (R_GENERATION, RegionSpec, pattern,
                             poke_region_field, read_file, set_region_state,
                             write_segment)
from snakepit_shm import (ReadOnlyRegionError, RegionBusyError,
                          RegionUsageError, attach)

try:
    import numpy as np
except ImportError:  # pragma: no cover - numpy is optional
    np = None

requires_numpy = pytest.mark.skipif(np is None, reason="numpy not installed")


def three_regions(shm_dir: str) -> List[Dict[str, Any]]:
    return write_segment(shm_dir, [
        RegionSpec(size=100, region_id=1, generation=10),
        RegionSpec(size=4096, region_id=2, generation=20),
        RegionSpec(size=64, region_id=3, generation=30)],
        segment_bytes=1 << 16)


def read_only(desc: Dict[str, Any]) -> Dict[str, Any]:
    return dict(desc, access="read_only")


def test_memoryview_is_exactly_the_payload(shm_dir: str) -> None:
    first, second, _ = three_regions(shm_dir)
    with attach(second) as region:
        view = region.memoryview
        assert (len(view), view.nbytes, view.format) == (4096, 4096, "B")
        assert bytes(view) == pattern(2, 4096)
        assert region.size == 4096 and region.id == "0000000000000002"
        assert region.descriptor == second
        view.release()
    with attach(first) as region:
        assert bytes(region.memoryview) == pattern(1, 100)


def test_write_through_view_reaches_the_file(shm_dir: str) -> None:
    _, desc, _ = three_regions(shm_dir)
    with attach(desc) as region:
        view = region.memoryview
        view[0:5] = b"hello"
        view[-3:] = b"end"
        view.release()
        assert read_file(desc["path"], desc["offset"], 5) == b"hello"
        assert read_file(desc["path"], desc["offset"] + 4093, 3) == b"end"
        # and the other way round: a write to the file shows in the view
        fd = os.open(desc["path"], os.O_RDWR)
        try:
            os.pwrite(fd, b"FILE", desc["offset"] + 100)
        finally:
            os.close(fd)
        assert region.read(100, 4) == b"FILE"


@requires_numpy
def test_numpy_view_is_zero_copy_and_aligned(shm_dir: str) -> None:
    _, desc, _ = three_regions(shm_dir)
    with attach(desc) as region:
        floats = region.numpy("<f8")
        assert floats.shape == (512,) and floats.flags.writeable
        assert floats.ctypes.data % 64 == 0
        floats[:] = np.arange(512, dtype="<f8")
        floats[7] = 2.5
        assert read_file(desc["path"], desc["offset"] + 7 * 8, 8) == \
            np.float64(2.5).tobytes()
        grid = region.numpy("<f8", shape=(32, 16))
        assert grid[0, 7] == 2.5 and grid[31, 15] == 511.0
        assert np.shares_memory(grid, floats)
        del floats, grid


@requires_numpy
def test_writes_stay_inside_the_payload(shm_dir: str) -> None:
    first, second, third = three_regions(shm_dir)
    before_second = read_file(second["path"], second["offset"] - 64, 64 + 4096)
    with attach(first) as region:
        bytes_view = region.numpy("uint8")
        bytes_view[:] = 0xEE
        del bytes_view
        with pytest.raises(RegionUsageError, match="outside the payload"):
            region.write(99, b"xy")
    assert read_file(first["path"], first["offset"], 100) == b"\xee" * 100
    # padding after the 100-byte payload (to the 64-byte block end) untouched
    assert read_file(first["path"], first["offset"] + 100, 28) == bytes(28)
    assert read_file(second["path"], second["offset"] - 64, 64 + 4096) == \
        before_second
    assert read_file(third["path"], third["offset"], 64) == pattern(3, 64)


@requires_numpy
def test_read_and_write_helpers_check_bounds(shm_dir: str) -> None:
    first, _, _ = three_regions(shm_dir)
    with attach(first) as region:
        assert region.write(10, b"abc") == 3
        assert region.read(10, 3) == b"abc"
        assert region.write(97, bytearray(b"xyz")) == 3
        assert region.read(0, 100)[97:] == b"xyz"
        assert region.write(0, np.array([1, 2], dtype="<u4")) == 8
        assert region.read(0, 8) == bytes([1, 0, 0, 0, 2, 0, 0, 0])
        for offset, length in [(-1, 1), (0, 101), (100, 1), (50, -1)]:
            with pytest.raises(RegionUsageError):
                region.read(offset, length)
        with pytest.raises(RegionUsageError):
            region.write(-1, b"a")
        assert region.read(100, 0) == b""


@requires_numpy
@pytest.mark.parametrize("payload_offset", [
    4096,                        # header at 4032, inside the first page
    4096 + 64,                   # header exactly at a page start
    5 * 65536 + 640,             # far into the file
])
def test_regions_view_the_whole_segment_mapping(
        shm_dir: str, payload_offset: int) -> None:
    [desc] = write_segment(shm_dir, [RegionSpec(
        size=1000, region_id=77, generation=1, offset=payload_offset)])
    file_bytes = os.path.getsize(desc["path"])
    with attach(desc) as region:
        assert region.map_offset_bytes == 0
        assert region.map_length_bytes == file_bytes
        assert region.segment_header.magic_ok
        assert region.read(0, 1000) == pattern(77, 1000)
        array = region.numpy()
        assert array.ctypes.data % 64 == 0
        del array
        with open("/proc/self/maps") as maps:
            spans = [line.split() for line in maps
                     if line.rstrip().endswith(desc["path"])]
        assert len(spans) == 1 and int(spans[0][2], 16) == 0


@requires_numpy
def test_dedicated_segment_attaches(shm_dir: str) -> None:
    size = 3 * 1024 * 1024 + 5
    [desc] = write_segment(shm_dir, [RegionSpec(
        size=size, region_id=0xFFFFFFFFFFFFFFFF, generation=1 << 40,
        fill=b"\x01" * size)], kind=2)
    assert os.path.getsize(desc["path"]) == 256 + 64 + (size + 59)
    with attach(desc) as region:
        assert region.segment_header.kind == 2
        assert region.id == "ffffffffffffffff"
        array = region.numpy()
        assert int(array.sum()) == size
        del array


@requires_numpy
def test_empty_payload(shm_dir: str) -> None:
    [desc] = write_segment(shm_dir, [RegionSpec(size=0, region_id=5,
                                                generation=5)])
    with attach(desc) as region:
        assert len(region.memoryview) == 0
        assert region.numpy("<f8").shape == (0,)


@requires_numpy
def test_read_only_refuses_writes(shm_dir: str) -> None:
    _, desc, _ = three_regions(shm_dir)
    with attach(read_only(desc)) as region:
        assert region.read_only
        view = region.memoryview
        assert view.readonly
        with pytest.raises(TypeError):
            view[0] = 1
        view.release()
        with pytest.raises(ReadOnlyRegionError) as info:
            region.write(0, b"x")
        assert info.value.code == "forbidden"
        array = region.numpy("uint8")
        assert not array.flags.writeable
        with pytest.raises(ValueError):
            array[0] = 1
        with pytest.raises(ValueError):
            array.flags.writeable = True
        del array
        assert region.read(0, 16) == pattern(2, 16)
    assert read_file(desc["path"], desc["offset"], 4096) == pattern(2, 4096)


@requires_numpy
def test_numpy_refuses_sizes_that_do_not_fit(shm_dir: str) -> None:
    first, second, _ = three_regions(shm_dir)
    with attach(first) as region:
        with pytest.raises(RegionUsageError, match="not a whole number"):
            region.numpy("<f8")
    with attach(second) as region:
        with pytest.raises(RegionUsageError, match="shape"):
            region.numpy("<f8", shape=(100, 100))


def test_numpy_missing_gives_a_clear_import_error(
        shm_dir: str, monkeypatch: pytest.MonkeyPatch) -> None:
    first, _, _ = three_regions(shm_dir)
    monkeypatch.setitem(sys.modules, "numpy", None)
    with attach(first) as region:
        with pytest.raises(ImportError, match="Region.memoryview"):
            region.numpy()
        assert len(region.memoryview) == 100


def test_check_passes_while_live_and_detects_free_and_reuse(
        shm_dir: str) -> None:
    from snakepit_shm import StaleDescriptorError
    first, _, _ = three_regions(shm_dir)
    with attach(first) as region:
        assert region.check().is_live
        set_region_state(first, 2)
        with pytest.raises(StaleDescriptorError, match="freed"):
            region.check()
        set_region_state(first, 1)
        poke_region_field(first, R_GENERATION, "<Q", 11)   # block reused
        with pytest.raises(StaleDescriptorError, match="generation=11"):
            region.check()


def test_close_is_idempotent_and_ends_access(shm_dir: str) -> None:
    first, _, _ = three_regions(shm_dir)
    region = attach(first)
    region.close()
    region.close()
    assert region.closed
    for action in (lambda: region.memoryview, lambda: region.read(0, 1),
                   lambda: region.write(0, b"a"), region.check,
                   region.numpy):
        with pytest.raises(RegionUsageError, match="closed"):
            action()
    assert "closed" in repr(region)


@requires_numpy
def test_close_with_live_numpy_array_is_busy_then_succeeds(
        shm_dir: str) -> None:
    first, _, _ = three_regions(shm_dir)
    region = attach(first)
    array = region.numpy()
    with pytest.raises(RegionBusyError) as info:
        region.close()
    assert info.value.code == "busy"
    assert not region.closed
    array[0] = 42                      # still mapped, still usable
    assert region.read(0, 1) == b"\x2a"
    del array
    region.close()
    assert region.closed


def test_close_with_live_slice_is_busy_then_succeeds(shm_dir: str) -> None:
    first, _, _ = three_regions(shm_dir)
    region = attach(first)
    head = region.memoryview[:4]
    with pytest.raises(RegionBusyError):
        region.close()
    assert bytes(head) == pattern(1, 4)
    assert region.read(0, 4) == pattern(1, 4)
    head.release()
    region.close()


@requires_numpy
def test_context_manager_keeps_a_failing_exception_and_views_stay_valid(
        shm_dir: str) -> None:
    first, _, _ = three_regions(shm_dir)
    kept = None
    with pytest.raises(KeyError):
        with attach(first) as region:
            kept = region.numpy()
            raise KeyError("boom")
    assert region.closed
    assert bytes(kept[:4]) == pattern(1, 4)   # mapping lives while viewed
    del kept


@requires_numpy
def test_context_manager_without_exception_reports_busy(shm_dir: str) -> None:
    first, _, _ = three_regions(shm_dir)
    with pytest.raises(RegionBusyError):
        with attach(first) as region:
            kept = region.numpy()
    del kept
    region.close()
    assert region.closed

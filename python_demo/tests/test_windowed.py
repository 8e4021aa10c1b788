"""Windowed mode forced with ``attach(..., max_window_bytes=N)``: reads,
writes and ``windows()`` across window boundaries, header checks, the typed
error for full views, and the worker ops on windowed regions.

The ENOMEM fallback itself (a real lowered RLIMIT_AS) is tested in
``test_address_space.py``.
"""

from __future__ import annotations

import hashlib
import mmap
import os
import struct
from typing import Any, Dict, List, Tuple

import pytest

from segment_builder import (R_GENERATION, RegionSpec, pattern, poke,
                             poke_region_field, read_file, set_region_state,
                             write_segment)
from snakepit_shm import (AddressSpaceError, InvalidRegionError,
                          ReadOnlyRegionError, RegionUsageError,
                          StaleDescriptorError, attach, ops)

GRANULE = mmap.ALLOCATIONGRANULARITY
WINDOW = 2 * GRANULE
SIZE = 11 * GRANULE + 1000           # several windows and a ragged tail
PAYLOAD_OFFSET = GRANULE + 640       # payload starts mid-granule


def region_desc(shm_dir: str, size: int = SIZE,
                fill: Any = None) -> Dict[str, Any]:
    return write_segment(shm_dir, [RegionSpec(
        size=size, region_id=0x77, generation=3, offset=PAYLOAD_OFFSET,
        fill=fill)])[0]


def mappings_of(path: str) -> List[str]:
    """Lines of /proc/self/maps that map ``path``."""
    with open("/proc/self/maps") as maps:
        return [line for line in maps if line.rstrip().endswith(path)]


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_forced_windowed_reads_across_window_boundaries(shm_dir: str) -> None:
    desc = region_desc(shm_dir)
    expected = pattern(0x77, SIZE)
    with attach(desc, max_window_bytes=WINDOW) as region:
        assert region.windowed and region.window_bytes == WINDOW
        assert region.map_length_bytes == 0
        assert region.map_offset_bytes == GRANULE
        assert mappings_of(desc["path"]) == []       # nothing held mapped
        assert region.read(0, SIZE) == expected
        first_boundary = 3 * GRANULE - PAYLOAD_OFFSET  # file offset 3 granules
        for offset, length in [(first_boundary - 10, 20),
                               (first_boundary, 1), (first_boundary - 1, 1),
                               (5, 3 * WINDOW + 7), (SIZE - 1, 1),
                               (SIZE, 0)]:
            assert region.read(offset, length) == \
                expected[offset:offset + length], (offset, length)
        with pytest.raises(RegionUsageError, match="outside the payload"):
            region.read(SIZE - 1, 2)
        assert mappings_of(desc["path"]) == []
        assert "windowed" in repr(region)


def test_forced_windowed_writes_across_window_boundaries(shm_dir: str) -> None:
    desc = region_desc(shm_dir)
    boundary = 5 * GRANULE - PAYLOAD_OFFSET
    data = bytes(range(256)) * 40                    # 10240 bytes, 3 windows
    with attach(desc, max_window_bytes=WINDOW) as region:
        assert region.write(boundary - 100, data) == len(data)
        assert region.write(SIZE - 4, b"tail") == 4
        assert region.write(0, struct.pack("<2d", 1.5, -2.0)) == 16
        with pytest.raises(RegionUsageError):
            region.write(SIZE - 3, b"tail")
        assert region.read(boundary - 100, len(data)) == data
    path, base = desc["path"], desc["offset"]
    assert read_file(path, base + boundary - 100, len(data)) == data
    assert read_file(path, base + SIZE - 4, 4) == b"tail"
    assert read_file(path, base, 16) == struct.pack("<2d", 1.5, -2.0)
    untouched = pattern(0x77, SIZE)
    assert read_file(path, base + 16, boundary - 116) == untouched[16:
                                                                   boundary
                                                                   - 100]
    # the region header before the payload was not overwritten
    with attach(desc) as region:
        assert region.check().is_live


def test_windows_cover_the_payload_one_mapping_at_a_time(
        shm_dir: str) -> None:
    desc = region_desc(shm_dir)
    expected = pattern(0x77, SIZE)
    spans: List[Tuple[int, int]] = []
    with attach(desc, max_window_bytes=WINDOW) as region:
        for offset, view in region.windows():
            assert not view.readonly and view.format == "B"
            assert bytes(view) == expected[offset:offset + len(view)]
            assert len(mappings_of(desc["path"])) == 1   # just this window
            spans.append((offset, len(view)))
        assert mappings_of(desc["path"]) == []           # all unmapped
    position = 0
    for index, (offset, length) in enumerate(spans):
        assert offset == position and 0 < length <= WINDOW
        if index:                                   # later windows start on
            assert (PAYLOAD_OFFSET + offset) % GRANULE == 0   # a granule
            assert offset % 64 == 0
        position += length
    assert position == SIZE
    first = 3 * GRANULE - PAYLOAD_OFFSET          # up to file offset 12288
    assert spans[0] == (0, first)
    assert len(spans) == 1 + -(-(SIZE - first) // WINDOW)


def test_windows_size_argument_is_capped_and_rounded(shm_dir: str) -> None:
    desc = region_desc(shm_dir)
    with attach(desc, max_window_bytes=WINDOW) as region:
        small = [len(view) for _, view in region.windows(GRANULE + 5)]
        assert max(small) == GRANULE and sum(small) == SIZE
        large = [len(view) for _, view in region.windows(16 * GRANULE)]
        assert max(large) == WINDOW             # never above the region's cap
    with attach(desc) as region:                # full mode: same boundaries
        assert not region.windowed and region.window_bytes is None
        full = [len(view) for _, view in region.windows(GRANULE + 5)]
        assert full == small
        whole = [(offset, len(view)) for offset, view in region.windows()]
        assert whole == [(0, SIZE)]
        [(_, released)] = list(region.windows())     # valid for its step only
        with pytest.raises(ValueError, match="released"):
            len(released)


def test_windows_stop_early_unmaps_and_kept_views_stay_valid(
        shm_dir: str) -> None:
    desc = region_desc(shm_dir)
    expected = pattern(0x77, SIZE)
    with attach(desc, max_window_bytes=WINDOW) as region:
        for _ in region.windows():
            break
        assert mappings_of(desc["path"]) == []
        kept = []
        for offset, view in region.windows():
            kept.append((offset, view[:8]))          # kept past its step
        for offset, head in kept:                   # never dangles
            assert bytes(head) == expected[offset:offset + 8]
            head.release()
        del kept, head
        assert mappings_of(desc["path"]) == []      # gone with the views


def test_full_views_raise_the_typed_error(shm_dir: str) -> None:
    desc = region_desc(shm_dir)
    with attach(desc, max_window_bytes=WINDOW) as region:
        for action in (lambda: region.memoryview, region.numpy,
                       lambda: region.numpy("<f8", shape=(8,))):
            with pytest.raises(AddressSpaceError) as info:
                action()
            error = info.value
            assert error.code == "no_space"
            assert error.details["space"] == "address"
            assert error.details["requested_bytes"] == SIZE
            assert "windowed" in error.message
            assert "max_window_bytes" in error.message
            assert f"id={desc['id']}" in error.message
            assert "windows()" in error.remediation
            assert "read()" in error.remediation
            assert error.to_dict()["code"] == "no_space"


def test_read_only_windowed_region(shm_dir: str) -> None:
    desc = dict(region_desc(shm_dir), access="read_only")
    with attach(desc, max_window_bytes=WINDOW) as region:
        with pytest.raises(ReadOnlyRegionError):
            region.write(0, b"x")
        for _, view in region.windows():
            assert view.readonly
            with pytest.raises(TypeError):
                view[0] = 1
        assert region.read(0, 4) == pattern(0x77, 4)


def test_header_checks_run_in_windowed_mode(shm_dir: str) -> None:
    desc = region_desc(shm_dir)
    with pytest.raises(StaleDescriptorError):
        attach(dict(desc, generation=4), max_window_bytes=WINDOW)
    with attach(desc, max_window_bytes=WINDOW) as region:
        assert region.check().is_live
        assert region.region_header.generation == 3
        assert region.segment_header.magic_ok
        set_region_state(desc, 2)
        with pytest.raises(StaleDescriptorError, match="freed"):
            region.check()
        set_region_state(desc, 1)
        poke_region_field(desc, R_GENERATION, "<Q", 9)   # block reused
        with pytest.raises(StaleDescriptorError, match="generation=9"):
            region.check()
    poke_region_field(desc, R_GENERATION, "<Q", 3)
    poke(desc["path"], 0, "<Q", 0)                   # segment magic broken
    with pytest.raises(InvalidRegionError, match="segment magic"):
        attach(desc, max_window_bytes=WINDOW)


def test_failed_windowed_attach_and_close_release_the_descriptor(
        shm_dir: str) -> None:
    desc = region_desc(shm_dir)
    before = open_fds()
    with pytest.raises(StaleDescriptorError):
        attach(dict(desc, generation=4), max_window_bytes=WINDOW)
    assert open_fds() == before
    region = attach(desc, max_window_bytes=WINDOW)
    assert open_fds() == before + 1                  # it keeps the file open
    steps = region.windows()
    next(steps)                      # a window is mapped (mmap dups the fd)
    region.close()
    region.close()                                   # idempotent
    assert region.closed
    with pytest.raises(RegionUsageError, match="closed"):
        next(steps)                  # the window is unmapped on the way out
    assert open_fds() == before
    for action in (lambda: region.read(0, 1), lambda: region.write(0, b"a"),
                   region.check, region.windows, region.numpy,
                   lambda: region.memoryview):
        with pytest.raises(RegionUsageError, match="closed"):
            action()
    assert mappings_of(desc["path"]) == []
    assert os.path.exists(desc["path"])


@pytest.mark.parametrize("value", [0, -1, True, "4096", 1.5])
def test_max_window_bytes_must_be_a_positive_int(shm_dir: str,
                                                 value: Any) -> None:
    desc = region_desc(shm_dir, size=64)
    with pytest.raises(RegionUsageError, match="max_window_bytes"):
        attach(desc, max_window_bytes=value)
    with attach(desc) as region:
        with pytest.raises(RegionUsageError, match="window_bytes"):
            region.windows(value)


def test_max_window_bytes_rounds_down_to_whole_granules(shm_dir: str) -> None:
    desc = region_desc(shm_dir)
    for asked, expected in [(1, GRANULE), (GRANULE * 3 - 1, GRANULE * 2),
                            (1 << 40, 1 << 40)]:
        with attach(desc, max_window_bytes=asked) as region:
            assert region.window_bytes == expected
            assert region.read(0, SIZE) == pattern(0x77, SIZE)


def test_empty_payload_windowed(shm_dir: str) -> None:
    desc = region_desc(shm_dir, size=0)
    with attach(desc, max_window_bytes=WINDOW) as region:
        assert list(region.windows()) == []
        assert region.read(0, 0) == b""
        assert ops.sha256_hex(region) == hashlib.sha256(b"").hexdigest()


@pytest.mark.parametrize("use_numpy", [True, False])
def test_ops_give_the_same_results_windowed(
        shm_dir: str, use_numpy: bool,
        monkeypatch: pytest.MonkeyPatch) -> None:
    if use_numpy:
        pytest.importorskip("numpy")
    else:
        monkeypatch.setattr(ops, "np", None)
    monkeypatch.setattr(ops, "SCALE_CHUNK_BYTES", GRANULE + 64)
    count = SIZE // 8
    values = [index * 0.25 - 100.0 for index in range(count)]
    raw = struct.pack(f"<{count}d", *values)
    source, target, other = write_segment(shm_dir, [
        RegionSpec(size=len(raw), region_id=1, generation=1, fill=raw,
                   offset=PAYLOAD_OFFSET),
        RegionSpec(size=len(raw), region_id=2, generation=1,
                   fill=bytes(len(raw))),
        RegionSpec(size=SIZE, region_id=3, generation=1)])
    with attach(source, max_window_bytes=WINDOW) as windowed_in, \
            attach(target, max_window_bytes=3 * GRANULE) as windowed_out:
        assert ops.sha256_hex(windowed_in) == hashlib.sha256(raw).hexdigest()
        result = ops.scale(windowed_in, windowed_out, -2.0)
    expected = [value * -2.0 for value in values]
    output = read_file(target["path"], target["offset"], len(raw))
    assert list(struct.unpack(f"<{count}d", output)) == expected
    assert result["n"] == count
    assert result["sum"] == pytest.approx(sum(expected))
    with attach(source) as full_in, \
            attach(target, max_window_bytes=WINDOW) as windowed_out:
        ops.scale(full_in, windowed_out, 3.0)       # mixed modes
    output = read_file(target["path"], target["offset"], len(raw))
    assert list(struct.unpack(f"<{count}d", output)) == \
        [value * 3.0 for value in values]
    content = pattern(3, SIZE)
    with attach(other, max_window_bytes=WINDOW) as region:
        spans = [(offset, len(view)) for offset, view in region.windows()]
        assert ops.touch_pages(region) == sum(
            content[offset + index] for offset, length in spans
            for index in range(0, length, mmap.PAGESIZE))
        ops.fill(region, 0x5A)
        assert ops.sha256_hex(region) == \
            hashlib.sha256(b"\x5a" * SIZE).hexdigest()
    assert read_file(other["path"], other["offset"], SIZE) == b"\x5a" * SIZE


def test_full_mode_ops_are_unchanged(shm_dir: str) -> None:
    desc = region_desc(shm_dir)
    with attach(desc) as region:
        assert ops.sha256_hex(region) == \
            hashlib.sha256(pattern(0x77, SIZE)).hexdigest()
        assert ops.touch_pages(region) == sum(
            pattern(0x77, SIZE)[::mmap.PAGESIZE])

"""Header CRCs (MEMORY_LAYOUT.md, *Integrity*): a correct segment attaches;
any changed byte in the CRC-covered range of either header, or in a CRC
itself, is reported as a corrupt header (``InvalidRegionError``), at attach
and by ``check()``, fully mapped and windowed; a region the manager marked
invalid (state 3) says so.

The segments come from ``segment_builder``, which computes the CRCs on its
own from the document's tables; ``flip_byte`` corrupts a byte afterwards,
like a stray write would.
"""

from __future__ import annotations

import mmap
import zlib
from typing import Any, Dict, List, Optional

import pytest

from segment_builder import (R_CREATED_MS, R_GENERATION, R_ID,
                             R_PAYLOAD_BYTES, R_PAYLOAD_OFFSET, R_STATE,
                             RegionSpec, flip_byte, pattern, read_file,
                             region_header_bytes, set_region_state,
                             write_segment)
from snakepit_shm import (InvalidRegionError, StaleDescriptorError, attach,
                          layout)
from snakepit_shm.descriptor import parse_descriptor
from snakepit_shm.region import _checked_region_header

GRANULE = mmap.ALLOCATIONGRANULARITY
MODES = {"full": None, "windowed": GRANULE}
"""``max_window_bytes`` per mode: the header checks must not depend on it."""

REGION_ID = 0x0102030405060708
GENERATION = (1 << 40) + 7


def two_regions(shm_dir: str, **second: Any) -> List[Dict[str, Any]]:
    """A pooled segment with two regions; the second (the one tested) has
    its payload mid-granule, so its header is not at a fixed place."""
    values: Dict[str, Any] = dict(size=3000, region_id=REGION_ID,
                                  generation=GENERATION,
                                  offset=GRANULE + 640)
    values.update(second)
    return write_segment(shm_dir, [
        RegionSpec(size=100, region_id=1, generation=1),
        RegionSpec(**values)], segment_bytes=4 * GRANULE)


def header_at(desc: Dict[str, Any]) -> int:
    return desc["offset"] - 64


def assert_corrupt(error: InvalidRegionError, desc: Dict[str, Any],
                   header: str, found_crc32: Optional[int] = None) -> None:
    """The error names the header, both CRCs, the path and the offset, and
    says what to do."""
    assert error.code == "invalid_region"
    assert f"{header} header" in error.message and "corrupt" in error.message
    details = error.details
    assert details["header"] == header
    assert details["expected_crc32"] != details["found_crc32"]
    assert f"expected CRC-32 0x{details['expected_crc32']:08x}" in \
        error.message
    assert f"found 0x{details['found_crc32']:08x}" in error.message
    if found_crc32 is not None:
        assert details["found_crc32"] == found_crc32
    assert desc["path"] in error.message
    assert f"id={desc['id']}" in error.message
    if header == "region":
        assert details["header_offset"] == header_at(desc)
        assert f"file offset {header_at(desc)}" in error.message
    else:
        assert details["header_offset"] == 0
    assert error.remediation is not None
    assert "do not use" in error.remediation
    assert "isolates" in error.remediation
    assert "docs/OPERATIONS.md" in error.remediation


# --- the CRC itself ----------------------------------------------------------

def test_crc_is_zlib_ieee_crc32() -> None:
    """The standard check value of CRC-32/ISO-HDLC (zlib, java CRC32)."""
    assert layout.crc32_of(b"..123456789..", 2, 11) == 0xCBF43926


def test_parsed_headers_carry_stored_and_computed_crc(shm_dir: str) -> None:
    _, desc = two_regions(shm_dir)
    region_raw = read_file(desc["path"], header_at(desc), 64)
    region = layout.parse_region_header(region_raw)
    assert region.crc_ok
    assert region.header_crc32 == zlib.crc32(region_raw[8:56])
    segment_raw = read_file(desc["path"], 0, 256)
    segment = layout.parse_segment_header(segment_raw)
    assert segment.crc_ok
    assert segment.header_crc32 == zlib.crc32(segment_raw[8:208])


@pytest.mark.parametrize("mode", MODES)
def test_correct_segment_attaches(shm_dir: str, mode: str) -> None:
    _, desc = two_regions(shm_dir)
    with attach(desc, max_window_bytes=MODES[mode]) as region:
        assert region.windowed == (mode == "windowed")
        assert region.segment_header.crc_ok
        assert region.region_header.crc_ok
        assert region.check().crc_ok


# --- region header -----------------------------------------------------------

REGION_FLIPS = {
    "id_low": R_ID, "id_high": R_ID + 7, "generation": R_GENERATION,
    "generation_high": R_GENERATION + 5, "size": R_PAYLOAD_BYTES,
    "offset": R_PAYLOAD_OFFSET + 1, "flags": 40, "reserved": 44,
    "created_ms": R_CREATED_MS, "last_covered": 55,
}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("field", REGION_FLIPS)
def test_flipped_region_header_byte_is_corrupt(shm_dir: str, mode: str,
                                               field: str) -> None:
    _, desc = two_regions(shm_dir)
    flip_byte(desc["path"], header_at(desc) + REGION_FLIPS[field])
    with pytest.raises(InvalidRegionError) as info:
        attach(desc, max_window_bytes=MODES[mode])
    assert_corrupt(info.value, desc, "region")


def test_every_covered_region_header_byte_is_checked(shm_dir: str) -> None:
    _, desc = two_regions(shm_dir)
    for offset in range(8, 56):
        for mask in (0x01, 0x80):
            flip_byte(desc["path"], header_at(desc) + offset, mask)
            with pytest.raises(InvalidRegionError, match="corrupt"):
                attach(desc)
            flip_byte(desc["path"], header_at(desc) + offset, mask)
    with attach(desc) as region:                 # all restored
        assert region.check().crc_ok


@pytest.mark.parametrize("crc_byte", [56, 57, 58, 59])
def test_flipped_region_crc_is_corrupt(shm_dir: str, crc_byte: int) -> None:
    _, desc = two_regions(shm_dir)
    [stored] = read_file(desc["path"], header_at(desc) + crc_byte, 1)
    flip_byte(desc["path"], header_at(desc) + crc_byte)
    with pytest.raises(InvalidRegionError) as info:
        attach(desc)
    assert_corrupt(info.value, desc, "region")
    shift = 8 * (crc_byte - 56)
    assert (info.value.details["found_crc32"] >> shift) & 0xFF == \
        stored ^ 0xFF


@pytest.mark.parametrize("mode", MODES)
def test_wrong_region_crc_written_is_corrupt(shm_dir: str, mode: str) -> None:
    _, desc = two_regions(shm_dir, header_crc32=0xDEADBEEF)
    with pytest.raises(InvalidRegionError) as info:
        attach(desc, max_window_bytes=MODES[mode])
    assert_corrupt(info.value, desc, "region", found_crc32=0xDEADBEEF)


def test_corruption_is_reported_before_a_stale_id(shm_dir: str) -> None:
    """A changed id byte is a corrupt header, not another region."""
    _, desc = two_regions(shm_dir)
    flip_byte(desc["path"], header_at(desc) + R_ID)
    with pytest.raises(InvalidRegionError, match="corrupt"):
        attach(desc)


def test_freed_header_being_rewritten_is_stale(shm_dir: str) -> None:
    """State 2 with a mismatching CRC is a block the manager is reusing."""
    _, desc = two_regions(shm_dir)
    set_region_state(desc, 2)
    flip_byte(desc["path"], header_at(desc) + R_GENERATION)
    with pytest.raises(StaleDescriptorError, match="freed"):
        attach(desc)


def test_torn_read_of_a_reused_block_is_stale() -> None:
    """A live header read with a bad CRC is read once more; if the block
    was freed meanwhile, the descriptor is stale, not the header corrupt."""
    spec = RegionSpec(size=3000, region_id=REGION_ID, generation=GENERATION)
    desc = {"id": f"{REGION_ID:016x}", "generation": GENERATION,
            "segment": "/snktorn", "path": "/dev/shm/snktorn", "offset": 4736,
            "size": 3000, "access": "read_write", "tenant": None,
            "session": None}
    live = bytearray(region_header_bytes(spec, 4736))
    torn = bytearray(live)
    torn[R_GENERATION] ^= 0xFF                    # new fields, old state
    freed = bytearray(live)
    freed[R_STATE] = 2
    reads = [torn, freed]
    with pytest.raises(StaleDescriptorError, match="freed"):
        _checked_region_header(
            lambda: layout.parse_region_header(reads.pop(0)),
            parse_descriptor(desc))
    assert reads == []
    reads = [torn, torn]                          # still bad: corrupt
    with pytest.raises(InvalidRegionError, match="corrupt"):
        _checked_region_header(
            lambda: layout.parse_region_header(reads.pop(0)),
            parse_descriptor(desc))


# --- segment header ----------------------------------------------------------

SEGMENT_FLIPS = {
    "header_bytes": 12, "segment_bytes": 16, "segment_bytes_high": 23,
    "kind": 24, "flags": 28, "created_ms": 32, "manager_pid": 40,
    "start_ticks": 48, "instance_id": 56, "boot_id": 64, "node_name": 80,
    "node_name_padding": 150, "last_covered": 207,
}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("field", SEGMENT_FLIPS)
def test_flipped_segment_header_byte_is_corrupt(shm_dir: str, mode: str,
                                                field: str) -> None:
    _, desc = two_regions(shm_dir)
    flip_byte(desc["path"], SEGMENT_FLIPS[field])
    with pytest.raises(InvalidRegionError) as info:
        attach(desc, max_window_bytes=MODES[mode])
    assert_corrupt(info.value, desc, "segment")


def test_flipped_layout_version_byte_is_refused_first(shm_dir: str) -> None:
    """Layout (bytes 8..12) is checked before the CRC: another layout may
    hash differently."""
    _, desc = two_regions(shm_dir)
    flip_byte(desc["path"], 8, 0x02)
    with pytest.raises(InvalidRegionError, match="layout version is 3"):
        attach(desc)


def test_every_covered_segment_header_byte_is_checked(shm_dir: str) -> None:
    _, desc = two_regions(shm_dir)
    for offset in range(8, 208):
        flip_byte(desc["path"], offset, 0x10)
        with pytest.raises(InvalidRegionError):
            attach(desc)
        flip_byte(desc["path"], offset, 0x10)
    with attach(desc) as region:
        assert region.segment_header.crc_ok


@pytest.mark.parametrize("crc_byte", [208, 211])
def test_flipped_segment_crc_is_corrupt(shm_dir: str, crc_byte: int) -> None:
    _, desc = two_regions(shm_dir)
    flip_byte(desc["path"], crc_byte)
    with pytest.raises(InvalidRegionError) as info:
        attach(desc)
    assert_corrupt(info.value, desc, "segment")


def test_wrong_segment_crc_written_is_corrupt(shm_dir: str) -> None:
    desc = write_segment(shm_dir, [RegionSpec(size=64, region_id=3,
                                              generation=1)],
                         segment_header_crc32=0)[0]
    with pytest.raises(InvalidRegionError) as info:
        attach(desc)
    assert_corrupt(info.value, desc, "segment", found_crc32=0)


# --- after attach ------------------------------------------------------------

@pytest.mark.parametrize("mode", MODES)
def test_check_detects_corruption_after_attach(shm_dir: str,
                                               mode: str) -> None:
    _, desc = two_regions(shm_dir)
    with attach(desc, max_window_bytes=MODES[mode]) as region:
        assert region.check().crc_ok
        flip_byte(desc["path"], header_at(desc) + R_PAYLOAD_BYTES + 1, 0x04)
        with pytest.raises(InvalidRegionError) as info:
            region.check()
        assert_corrupt(info.value, desc, "region")
        assert region.read(0, 4) == pattern(REGION_ID, 4)  # still mapped


# --- state 3 -----------------------------------------------------------------

@pytest.mark.parametrize("mode", MODES)
def test_state_invalid_says_the_manager_marked_it(shm_dir: str,
                                                  mode: str) -> None:
    _, desc = two_regions(shm_dir)
    set_region_state(desc, 3)
    with pytest.raises(InvalidRegionError) as info:
        attach(desc, max_window_bytes=MODES[mode])
    error = info.value
    assert error.code == "invalid_region"
    assert "the manager marked this region invalid" in error.message
    assert "corrupt header" in error.message
    assert desc["path"] in error.message
    assert error.details["state"] == "invalid"
    assert error.remediation is not None
    assert "do not use" in error.remediation
    assert "docs/OPERATIONS.md" in error.remediation


def test_state_invalid_wins_over_a_bad_crc_and_shows_in_check(
        shm_dir: str) -> None:
    _, desc = two_regions(shm_dir)
    with attach(desc) as region:
        flip_byte(desc["path"], header_at(desc) + R_CREATED_MS)
        set_region_state(desc, 3)            # as the manager reacts
        with pytest.raises(InvalidRegionError, match="marked this region"):
            region.check()
    with pytest.raises(InvalidRegionError, match="marked this region"):
        attach(desc)

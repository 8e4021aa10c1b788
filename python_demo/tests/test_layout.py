"""The layout module decodes exactly the bytes MEMORY_LAYOUT.md describes."""

from __future__ import annotations

import os

from segment_builder import (RegionSpec, read_file, region_header_bytes,
                             segment_header_bytes, write_segment)
from snakepit_shm import layout


def test_magics_are_the_documented_ascii_bytes() -> None:
    assert layout.SEGMENT_MAGIC == bytes.fromhex("534E4B5345473031")
    assert layout.REGION_MAGIC == bytes.fromhex("534E4B52")


def test_field_offsets_match_the_document_tables() -> None:
    segment = [layout.SEG_MAGIC_OFFSET, layout.SEG_LAYOUT_VERSION_OFFSET,
               layout.SEG_HEADER_BYTES_OFFSET, layout.SEG_SEGMENT_BYTES_OFFSET,
               layout.SEG_KIND_OFFSET, layout.SEG_FLAGS_OFFSET,
               layout.SEG_CREATED_MS_OFFSET, layout.SEG_MANAGER_PID_OFFSET,
               layout.SEG_MANAGER_START_TICKS_OFFSET,
               layout.SEG_INSTANCE_ID_OFFSET, layout.SEG_BOOT_ID_OFFSET,
               layout.SEG_NODE_NAME_OFFSET, layout.SEG_HEADER_CRC32_OFFSET,
               layout.SEG_RESERVED_OFFSET]
    assert segment == [0, 8, 12, 16, 24, 28, 32, 40, 48, 56, 64, 80, 208,
                       212]
    region = [layout.REG_MAGIC_OFFSET, layout.REG_LAYOUT_VERSION_OFFSET,
              layout.REG_STATE_OFFSET, layout.REG_REGION_ID_OFFSET,
              layout.REG_GENERATION_OFFSET, layout.REG_PAYLOAD_BYTES_OFFSET,
              layout.REG_PAYLOAD_OFFSET_OFFSET, layout.REG_FLAGS_OFFSET,
              layout.REG_RESERVED1_OFFSET, layout.REG_CREATED_MS_OFFSET,
              layout.REG_HEADER_CRC32_OFFSET, layout.REG_RESERVED2_OFFSET]
    assert region == [0, 4, 6, 8, 16, 24, 32, 40, 44, 48, 56, 60]
    assert (layout.SEG_CRC_START, layout.SEG_CRC_END) == (8, 208)
    assert (layout.REG_CRC_START, layout.REG_CRC_END) == (8, 56)
    assert layout.SEGMENT_HEADER_STRUCT.size == 256
    assert layout.REGION_HEADER_STRUCT.size == 64
    assert layout.FIRST_PAYLOAD_OFFSET == 320


def test_parse_segment_header_reads_every_field() -> None:
    header = layout.parse_segment_header(segment_header_bytes(65536, 2))
    assert header.magic_ok
    assert (header.layout_version, header.header_bytes) == (1, 256)
    assert (header.segment_bytes, header.kind, header.flags) == (65536, 2, 0)
    assert header.manager_pid == os.getpid()
    assert header.manager_start_ticks == 12345
    assert header.instance_id == 0x1122334455667788
    assert header.boot_id == bytes(range(16))
    assert header.node_name == "snakepit_shm@test"


def test_parse_region_header_reads_every_field() -> None:
    spec = RegionSpec(size=1000, region_id=0xABCDEF0123456789,
                      generation=(1 << 63) + 5, state=2, flags=1)
    header = layout.parse_region_header(region_header_bytes(spec, 4160))
    assert header.magic_ok
    assert header.layout_version == 1
    assert header.state == layout.REGION_STATE_FREED and not header.is_live
    assert header.region_id == spec.region_id
    assert header.id_hex == "abcdef0123456789"
    assert header.generation == spec.generation
    assert (header.payload_bytes, header.payload_offset) == (1000, 4160)
    assert header.sensitive
    assert header.created_ms > 0


def test_headers_in_a_written_segment_parse_at_their_offsets(
        shm_dir: str) -> None:
    [desc] = write_segment(shm_dir, [RegionSpec(size=100, region_id=9,
                                                generation=3)])
    assert desc["offset"] == 320
    header = layout.parse_region_header(
        read_file(desc["path"], desc["offset"] - 64, 64))
    assert (header.region_id, header.generation) == (9, 3)
    assert header.payload_offset == 320
    segment = layout.parse_segment_header(read_file(desc["path"], 0, 256))
    assert segment.segment_bytes == os.path.getsize(desc["path"]) == 320 + 128

"""Byte layout of snakepit-shm segments (layout version 1), read side.

Mirrors ``docs/MEMORY_LAYOUT.md`` and the Java writer
(``io.snakepit.shm.segment.SegmentHeaderLayout`` / ``RegionHeaderLayout``).
All integers are little-endian; offsets are bytes from the start of the
segment file::

     0                      256                  P-64   P              P+size
     +----------------------+------------ ... --+------+--------------+---
     | segment header (256) | region block | ...|region| payload      |
     |                      |              |    |header| (size bytes) |
     +----------------------+------------ ... --+------+--------------+---
                                                 \\_ 64 _/ P % 64 == 0

Both headers end their immutable fields with a CRC-32 (zlib/IEEE) of them:
bytes 8..208 of the segment header, bytes 8..56 of the region header.
:func:`parse_segment_header` and :func:`parse_region_header` return the
stored value and the value computed from the bytes they decoded;
:mod:`snakepit_shm.checks` compares the two.

This module only decodes bytes; it never touches files.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from typing import Union

Buffer = Union[bytes, bytearray, memoryview]

LAYOUT_VERSION = 1
"""The only layout version this reader accepts."""

# --- segment header (256 bytes at file offset 0) ---------------------------

SEGMENT_MAGIC = b"SNKSEG01"
"""Segment magic: the ASCII bytes of the u64 at offset 0."""

SEGMENT_HEADER_BYTES = 256
SEGMENT_KIND_POOLED = 1
SEGMENT_KIND_DEDICATED = 2
BOOT_ID_BYTES = 16
NODE_NAME_BYTES = 128

# Field offsets, each chained from the previous field (Agrona style).
SEG_MAGIC_OFFSET = 0
SEG_LAYOUT_VERSION_OFFSET = SEG_MAGIC_OFFSET + 8
SEG_HEADER_BYTES_OFFSET = SEG_LAYOUT_VERSION_OFFSET + 4
SEG_SEGMENT_BYTES_OFFSET = SEG_HEADER_BYTES_OFFSET + 4
SEG_KIND_OFFSET = SEG_SEGMENT_BYTES_OFFSET + 8
SEG_FLAGS_OFFSET = SEG_KIND_OFFSET + 4
SEG_CREATED_MS_OFFSET = SEG_FLAGS_OFFSET + 4
SEG_MANAGER_PID_OFFSET = SEG_CREATED_MS_OFFSET + 8
SEG_MANAGER_START_TICKS_OFFSET = SEG_MANAGER_PID_OFFSET + 8
SEG_INSTANCE_ID_OFFSET = SEG_MANAGER_START_TICKS_OFFSET + 8
SEG_BOOT_ID_OFFSET = SEG_INSTANCE_ID_OFFSET + 8
SEG_NODE_NAME_OFFSET = SEG_BOOT_ID_OFFSET + BOOT_ID_BYTES
SEG_HEADER_CRC32_OFFSET = SEG_NODE_NAME_OFFSET + NODE_NAME_BYTES
SEG_RESERVED_OFFSET = SEG_HEADER_CRC32_OFFSET + 4

SEG_CRC_START = SEG_LAYOUT_VERSION_OFFSET
SEG_CRC_END = SEG_HEADER_CRC32_OFFSET
"""The segment header CRC covers bytes ``[SEG_CRC_START, SEG_CRC_END)``,
8..208: every field but the magic (written last) and the CRC itself."""

SEGMENT_HEADER_STRUCT = struct.Struct("<8sIIQIIQQQQ16s128sI44x")
"""magic, layout_version, header_bytes, segment_bytes, kind, flags,
created_ms, manager_pid, manager_start_ticks, instance_id, boot_id,
node_name, header_crc32, then 44 reserved bytes."""

# --- region header (64 bytes at payload offset - 64) -----------------------

REGION_MAGIC = b"SNKR"
"""Region magic: the ASCII bytes of the u32 at offset 0 of a region header."""

REGION_HEADER_BYTES = 64
PAYLOAD_ALIGNMENT_BYTES = 64
"""Payload offsets (and block sizes) are multiples of this (a cache line)."""

REGION_STATE_LIVE = 1
REGION_STATE_FREED = 2
REGION_STATE_INVALID = 3
REGION_FLAG_SENSITIVE = 1 << 0

REG_MAGIC_OFFSET = 0
REG_LAYOUT_VERSION_OFFSET = REG_MAGIC_OFFSET + 4
REG_STATE_OFFSET = REG_LAYOUT_VERSION_OFFSET + 2
REG_REGION_ID_OFFSET = REG_STATE_OFFSET + 2
REG_GENERATION_OFFSET = REG_REGION_ID_OFFSET + 8
REG_PAYLOAD_BYTES_OFFSET = REG_GENERATION_OFFSET + 8
REG_PAYLOAD_OFFSET_OFFSET = REG_PAYLOAD_BYTES_OFFSET + 8
REG_FLAGS_OFFSET = REG_PAYLOAD_OFFSET_OFFSET + 8
REG_RESERVED1_OFFSET = REG_FLAGS_OFFSET + 4
REG_CREATED_MS_OFFSET = REG_RESERVED1_OFFSET + 4
REG_HEADER_CRC32_OFFSET = REG_CREATED_MS_OFFSET + 8
REG_RESERVED2_OFFSET = REG_HEADER_CRC32_OFFSET + 4

REG_CRC_START = REG_REGION_ID_OFFSET
REG_CRC_END = REG_HEADER_CRC32_OFFSET
"""The region header CRC covers bytes ``[REG_CRC_START, REG_CRC_END)``,
8..56: id, generation, sizes, offset, flags, created_ms, the fields that
never change after publication (magic, layout and state lie before 8)."""

REGION_HEADER_STRUCT = struct.Struct("<4sHHQQQQIIQII")
"""magic, layout_version, state, region_id, generation, payload_bytes,
payload_offset, flags, reserved, created_ms, header_crc32, reserved."""

FIRST_PAYLOAD_OFFSET = SEGMENT_HEADER_BYTES + REGION_HEADER_BYTES
"""The smallest payload offset a valid descriptor can carry (320)."""

assert SEGMENT_HEADER_STRUCT.size == SEGMENT_HEADER_BYTES
assert SEG_HEADER_CRC32_OFFSET == 208 and SEG_RESERVED_OFFSET == 212
assert REGION_HEADER_STRUCT.size == REGION_HEADER_BYTES
assert REG_HEADER_CRC32_OFFSET == 56 and REG_RESERVED2_OFFSET == 60


@dataclass(frozen=True)
class SegmentHeader:
    """The decoded 256-byte segment header."""

    magic: bytes
    layout_version: int
    header_bytes: int
    segment_bytes: int
    kind: int
    flags: int
    created_ms: int
    manager_pid: int
    manager_start_ticks: int
    instance_id: int
    boot_id: bytes
    node_name: str
    header_crc32: int
    """The CRC-32 stored at offset 208."""
    computed_crc32: int
    """The CRC-32 of bytes 8..208 as they were read."""

    @property
    def magic_ok(self) -> bool:
        """True when the magic is ``SNKSEG01``."""
        return self.magic == SEGMENT_MAGIC

    @property
    def crc_ok(self) -> bool:
        """True when the stored CRC matches the bytes it covers."""
        return self.header_crc32 == self.computed_crc32


@dataclass(frozen=True)
class RegionHeader:
    """The decoded 64-byte region header."""

    magic: bytes
    layout_version: int
    state: int
    region_id: int
    generation: int
    payload_bytes: int
    payload_offset: int
    flags: int
    created_ms: int
    header_crc32: int
    """The CRC-32 stored at offset 56 of the region header."""
    computed_crc32: int
    """The CRC-32 of region-header bytes 8..56 as they were read."""

    @property
    def magic_ok(self) -> bool:
        """True when the magic is ``SNKR``."""
        return self.magic == REGION_MAGIC

    @property
    def crc_ok(self) -> bool:
        """True when the stored CRC matches the bytes it covers."""
        return self.header_crc32 == self.computed_crc32

    @property
    def is_live(self) -> bool:
        """True when the state is 1 (live)."""
        return self.state == REGION_STATE_LIVE

    @property
    def sensitive(self) -> bool:
        """True when flag bit 0 (sensitive) is set."""
        return bool(self.flags & REGION_FLAG_SENSITIVE)

    @property
    def id_hex(self) -> str:
        """The id as the descriptor spells it: 16 lowercase hex digits."""
        return format_region_id(self.region_id)


def crc32_of(buffer: Buffer, start: int, end: int) -> int:
    """CRC-32 (zlib/IEEE, as ``java.util.zip.CRC32``) of
    ``buffer[start:end]``, without copying.

    Raises:
        ValueError: ``buffer`` holds fewer than ``end`` bytes.
    """
    with memoryview(buffer) as whole:
        if len(whole) < end:
            raise ValueError(f"need {end} bytes for the header CRC, "
                             f"have {len(whole)}")
        with whole[start:end] as covered:
            return zlib.crc32(covered)


def parse_segment_header(buffer: Buffer,
                         offset: int = 0) -> SegmentHeader:
    """Decode a segment header from ``buffer`` at ``offset``.

    Raises ``struct.error`` when fewer than 256 bytes are available; the
    caller decides whether the values are acceptable.
    """
    (magic, layout_version, header_bytes, segment_bytes, kind, flags,
     created_ms, manager_pid, manager_start_ticks, instance_id, boot_id,
     node_name, stored_crc32) = SEGMENT_HEADER_STRUCT.unpack_from(buffer,
                                                                  offset)
    name = node_name.split(b"\0", 1)[0].decode("utf-8", errors="replace")
    return SegmentHeader(
        magic=magic, layout_version=layout_version, header_bytes=header_bytes,
        segment_bytes=segment_bytes, kind=kind, flags=flags,
        created_ms=created_ms, manager_pid=manager_pid,
        manager_start_ticks=manager_start_ticks, instance_id=instance_id,
        boot_id=boot_id, node_name=name, header_crc32=stored_crc32,
        computed_crc32=crc32_of(buffer, offset + SEG_CRC_START,
                                offset + SEG_CRC_END))


def parse_region_header(buffer: Buffer,
                        offset: int = 0) -> RegionHeader:
    """Decode a region header from ``buffer`` at ``offset``.

    Raises ``struct.error`` when fewer than 64 bytes are available.
    """
    (magic, layout_version, state, region_id, generation, payload_bytes,
     payload_offset, flags, _reserved1, created_ms, stored_crc32,
     _reserved2) = REGION_HEADER_STRUCT.unpack_from(buffer, offset)
    return RegionHeader(
        magic=magic, layout_version=layout_version, state=state,
        region_id=region_id, generation=generation,
        payload_bytes=payload_bytes, payload_offset=payload_offset,
        flags=flags, created_ms=created_ms, header_crc32=stored_crc32,
        computed_crc32=crc32_of(buffer, offset + REG_CRC_START,
                                offset + REG_CRC_END))


def format_region_id(region_id: int) -> str:
    """Format a u64 region id as 16 lowercase hex digits."""
    return f"{region_id:016x}"


def region_header_offset(payload_offset: int) -> int:
    """File offset of the region header that precedes ``payload_offset``."""
    return payload_offset - REGION_HEADER_BYTES


def state_name(state: int) -> str:
    """Human-readable name of a region state value."""
    return {REGION_STATE_LIVE: "live", REGION_STATE_FREED: "freed",
            REGION_STATE_INVALID: "invalid"}.get(state, f"unknown({state})")

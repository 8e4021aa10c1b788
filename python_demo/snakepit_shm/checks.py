"""Checks of decoded headers against a descriptor.

Each check raises the typed error of :mod:`snakepit_shm.errors` with a
message naming the region (id, generation, path) and what differed:

* the segment header must say ``SNKSEG01``, layout 1, carry a CRC-32 that
  matches its bytes 8..208, say 256 header bytes and a known kind, and
  cover the region;
* the region header must say ``SNKR``, layout 1, not be marked invalid
  (state 3) by the manager, carry a CRC-32 that matches its bytes 8..56,
  hold the descriptor's id and generation (else the descriptor is stale),
  say live (freed means stale), and the descriptor's size and offset.

Order matters. The magic and layout come first (another layout may hash
differently). The CRC is checked before any field it covers is believed,
so a corrupt header is reported as corrupt (``InvalidRegionError``), not as
a stale descriptor or a size mismatch. Only a *freed* region header with a
bad CRC counts as stale: the manager rewrites the fields of a freed block
when it reuses it (state stays 2 until the new header is published).
"""

from __future__ import annotations

from typing import NoReturn

from .descriptor import Descriptor
from .errors import InvalidRegionError, StaleDescriptorError
from .layout import (LAYOUT_VERSION, REG_CRC_END, REG_CRC_START,
                     REG_HEADER_CRC32_OFFSET, REGION_MAGIC,
                     REGION_STATE_FREED, REGION_STATE_INVALID,
                     REGION_STATE_LIVE, SEG_CRC_END, SEG_CRC_START,
                     SEG_HEADER_CRC32_OFFSET, SEGMENT_HEADER_BYTES,
                     SEGMENT_KIND_DEDICATED, SEGMENT_KIND_POOLED,
                     SEGMENT_MAGIC, RegionHeader, SegmentHeader,
                     format_region_id, region_header_offset, state_name)

STALE_REMEDIATION = ("the region was released (or its holder died) and its "
                     "space may be reused: stop using this descriptor and "
                     "allocate or acquire a fresh one")
NOT_A_SEGMENT_REMEDIATION = ("the path does not hold a snakepit-shm segment "
                             "of layout 1: use the descriptor's path "
                             "unchanged and make sure reader and manager "
                             "versions match")
NOT_A_REGION_REMEDIATION = ("no live region header sits before this offset: "
                            "use the descriptor exactly as the manager "
                            "returned it; if it is old, its region was "
                            "probably freed and the space reused, so acquire "
                            "a fresh one")
CORRUPT_REGION_REMEDIATION = (
    "the region is corrupt: its header was overwritten (a stray write, e.g. "
    "past the end of a neighbouring payload, or a bad pointer); do not use "
    "it or trust its payload. The manager isolates such a region (marks it "
    "invalid, acquire answers :invalid_region, :health says :degraded) and "
    "frees it when its holders release it: release your hold, allocate a "
    "fresh region, and find the writer that overran its buffer; see "
    "docs/OPERATIONS.md")
MARKED_INVALID_REMEDIATION = (
    "the region is corrupt: do not use it or trust its payload. The manager "
    "has isolated it (acquire answers :invalid_region, :health says "
    ":degraded) and frees it when its holders release it: release your "
    "hold and allocate a fresh region; see docs/OPERATIONS.md")
CORRUPT_SEGMENT_REMEDIATION = (
    "the segment is corrupt: its header was overwritten (a stray write or a "
    "bad pointer); do not use any region of this segment. The manager "
    "isolates corrupt headers (acquire answers :invalid_region, :health "
    "says :degraded): release your holds, allocate fresh regions, and find "
    "the writer; see docs/OPERATIONS.md")


def check_segment_header(header: SegmentHeader, descriptor: Descriptor,
                         file_bytes: int) -> None:
    """Reject a segment header that is not layout 1 or misses the region.

    Raises:
        InvalidRegionError: bad magic or layout, a header CRC that does not
            match bytes 8..208 (corrupt header), bad header size or kind,
            or the region ends beyond ``segment_bytes`` or the file.
    """
    where = descriptor.label()
    if header.magic != SEGMENT_MAGIC:
        _invalid(f"{where}: segment magic is {header.magic!r}, expected "
                 f"{SEGMENT_MAGIC!r}", NOT_A_SEGMENT_REMEDIATION)
    if header.layout_version != LAYOUT_VERSION:
        _invalid(f"{where}: segment layout version is "
                 f"{header.layout_version}, this reader knows only "
                 f"{LAYOUT_VERSION}", NOT_A_SEGMENT_REMEDIATION)
    if not header.crc_ok:
        raise InvalidRegionError(
            f"{where}: segment header is corrupt: expected CRC-32 "
            f"0x{header.computed_crc32:08x} (of bytes {SEG_CRC_START}.."
            f"{SEG_CRC_END} as read), found 0x{header.header_crc32:08x} "
            f"stored at file offset {SEG_HEADER_CRC32_OFFSET}",
            remediation=CORRUPT_SEGMENT_REMEDIATION, header="segment",
            header_offset=0, expected_crc32=header.computed_crc32,
            found_crc32=header.header_crc32)
    if header.header_bytes != SEGMENT_HEADER_BYTES:
        _invalid(f"{where}: segment header_bytes is {header.header_bytes}, "
                 f"expected {SEGMENT_HEADER_BYTES}", NOT_A_SEGMENT_REMEDIATION)
    if header.kind not in (SEGMENT_KIND_POOLED, SEGMENT_KIND_DEDICATED):
        _invalid(f"{where}: segment kind is {header.kind}, expected 1 "
                 f"(pooled) or 2 (dedicated)", NOT_A_SEGMENT_REMEDIATION)
    end = descriptor.offset + descriptor.size
    if header.segment_bytes > file_bytes or end > header.segment_bytes:
        _invalid(f"{where}: region ends at byte {end} but the segment header "
                 f"says segment_bytes={header.segment_bytes} and the file "
                 f"has {file_bytes} bytes", NOT_A_SEGMENT_REMEDIATION)


def check_region_header(header: RegionHeader, descriptor: Descriptor) -> None:
    """Reject a region header that does not match ``descriptor``.

    Raises:
        StaleDescriptorError: the header carries another id or generation,
            or says freed.
        InvalidRegionError: bad magic or layout; state 3 (the manager
            marked the region invalid); a header CRC that does not match
            bytes 8..56 (corrupt header); state unknown; or a size/offset
            that contradicts the descriptor.
    """
    where = descriptor.label()
    header_at = region_header_offset(descriptor.offset)
    if header.magic != REGION_MAGIC:
        _invalid(f"{where}: no region header at file offset {header_at} "
                 f"(magic {header.magic!r}, expected {REGION_MAGIC!r})",
                 NOT_A_REGION_REMEDIATION)
    if header.layout_version != LAYOUT_VERSION:
        _invalid(f"{where}: region layout version is "
                 f"{header.layout_version}, this reader knows only "
                 f"{LAYOUT_VERSION}", NOT_A_SEGMENT_REMEDIATION)
    if header.state == REGION_STATE_INVALID:
        raise InvalidRegionError(
            f"{where}: region state is invalid (3): the manager marked this "
            f"region invalid after it detected a corrupt header at file "
            f"offset {header_at}",
            remediation=MARKED_INVALID_REMEDIATION,
            state=state_name(header.state))
    if not header.crc_ok:
        if header.state == REGION_STATE_FREED:
            raise StaleDescriptorError(
                f"{where}: stale descriptor, the region header says freed "
                f"(and its fields are being rewritten for reuse)",
                remediation=STALE_REMEDIATION, state=state_name(header.state))
        raise InvalidRegionError(
            f"{where}: region header at file offset {header_at} is corrupt: "
            f"expected CRC-32 0x{header.computed_crc32:08x} (of its bytes "
            f"{REG_CRC_START}..{REG_CRC_END} as read), found "
            f"0x{header.header_crc32:08x} stored at file offset "
            f"{header_at + REG_HEADER_CRC32_OFFSET}",
            remediation=CORRUPT_REGION_REMEDIATION, header="region",
            header_offset=header_at, expected_crc32=header.computed_crc32,
            found_crc32=header.header_crc32)
    if (header.region_id != descriptor.region_id
            or header.generation != descriptor.generation):
        raise StaleDescriptorError(
            f"{where}: stale descriptor, the block now holds region "
            f"id={format_region_id(header.region_id)} "
            f"generation={header.generation} "
            f"(state {state_name(header.state)})",
            remediation=STALE_REMEDIATION,
            found_id=format_region_id(header.region_id),
            found_generation=header.generation)
    if header.state == REGION_STATE_FREED:
        raise StaleDescriptorError(
            f"{where}: stale descriptor, the region header says freed",
            remediation=STALE_REMEDIATION, state=state_name(header.state))
    if header.state != REGION_STATE_LIVE:
        _invalid(f"{where}: region state is {state_name(header.state)}, "
                 f"expected live", NOT_A_REGION_REMEDIATION)
    if header.payload_bytes != descriptor.size:
        _invalid(f"{where}: region header says payload_bytes="
                 f"{header.payload_bytes}, descriptor says size="
                 f"{descriptor.size}", NOT_A_REGION_REMEDIATION)
    if header.payload_offset != descriptor.offset:
        _invalid(f"{where}: region header says payload_offset="
                 f"{header.payload_offset}, descriptor says offset="
                 f"{descriptor.offset}", NOT_A_REGION_REMEDIATION)


def _invalid(message: str, remediation: str) -> NoReturn:
    raise InvalidRegionError(message, remediation=remediation)

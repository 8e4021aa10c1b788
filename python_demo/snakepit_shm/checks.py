"""Checks of decoded headers against a descriptor.

Each check raises the typed error of :mod:`snakepit_shm.errors` with a
message naming the region (id, generation, path) and what differed:

* the segment header must say ``SNKSEG01``, layout 1, 256 header bytes, a
  known kind, and cover the region;
* the region header must say ``SNKR``, layout 1, the descriptor's id and
  generation (else the descriptor is stale), state live (freed means stale),
  and the descriptor's size and offset.
"""

from __future__ import annotations

from typing import NoReturn

from .descriptor import Descriptor
from .errors import InvalidRegionError, StaleDescriptorError
from .layout import (LAYOUT_VERSION, REGION_MAGIC, REGION_STATE_FREED,
                     REGION_STATE_LIVE, SEGMENT_HEADER_BYTES,
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


def check_segment_header(header: SegmentHeader, descriptor: Descriptor,
                         file_bytes: int) -> None:
    """Reject a segment header that is not layout 1 or misses the region.

    Raises:
        InvalidRegionError: bad magic, layout, header size or kind, or the
            region ends beyond ``segment_bytes`` or the file.
    """
    where = descriptor.label()
    if header.magic != SEGMENT_MAGIC:
        _invalid(f"{where}: segment magic is {header.magic!r}, expected "
                 f"{SEGMENT_MAGIC!r}", NOT_A_SEGMENT_REMEDIATION)
    if header.layout_version != LAYOUT_VERSION:
        _invalid(f"{where}: segment layout version is "
                 f"{header.layout_version}, this reader knows only "
                 f"{LAYOUT_VERSION}", NOT_A_SEGMENT_REMEDIATION)
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
        InvalidRegionError: bad magic or layout, state invalid/unknown, or
            a size/offset that contradicts the descriptor.
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

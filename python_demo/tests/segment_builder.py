"""Writes synthetic segments exactly as docs/MEMORY_LAYOUT.md says the
Java manager does, so the reader can be tested without the Java node.

Deliberately independent of ``snakepit_shm.layout``: every field is packed
at the offset the document's tables give, so a wrong constant in the
package fails the tests instead of agreeing with itself. That includes the
two header CRCs: ``zlib.crc32`` of segment-header bytes 8..208 stored at
208, of region-header bytes 8..56 stored at 56. They are right by default;
``header_crc32=`` writes a given (wrong) value instead, :func:`flip_byte`
corrupts a byte after writing, and :func:`poke_region_field` /
:func:`poke_segment_field` change a field *and* reseal its CRC, as the
manager does when it writes a new header (e.g. reusing a block).

On **hugetlbfs** (detected here on its own, from /proc/self/mountinfo) files
cannot be written with ``pwrite`` (EINVAL) and their size must be whole
huge pages, so there the builder sizes segments in whole huge pages,
allocates them with ``posix_fallocate`` and writes every byte through a
shared mapping of whole huge pages, as a manager on hugetlbfs must.
"""

from __future__ import annotations

import mmap
import os
import secrets
import struct
import time
import zlib
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple

SEGMENT_HEADER_BYTES = 256
REGION_HEADER_BYTES = 64
BLOCK_ALIGN = 64
BASE32 = "abcdefghijklmnopqrstuvwxyz234567"

# Region header field offsets (MEMORY_LAYOUT.md, region header table).
R_MAGIC, R_LAYOUT, R_STATE, R_ID, R_GENERATION = 0, 4, 6, 8, 16
R_PAYLOAD_BYTES, R_PAYLOAD_OFFSET, R_FLAGS, R_CREATED_MS = 24, 32, 40, 48
R_CRC = 56
"""region header_crc32: CRC-32 of region-header bytes R_ID..R_CRC (8..56)."""

# Segment header field offsets (MEMORY_LAYOUT.md, segment header table).
S_MAGIC, S_LAYOUT, S_HEADER_BYTES, S_SEGMENT_BYTES, S_KIND = 0, 8, 12, 16, 24
S_FLAGS, S_CREATED_MS, S_MANAGER_PID, S_START_TICKS = 28, 32, 40, 48
S_INSTANCE_ID, S_BOOT_ID, S_NODE_NAME = 56, 64, 80
S_CRC = 208
"""segment header_crc32: CRC-32 of segment-header bytes S_LAYOUT..S_CRC
(8..208)."""


@dataclass
class RegionSpec:
    """One region to lay out in a synthetic segment."""

    size: int
    region_id: int
    generation: int
    state: int = 1
    flags: int = 0
    offset: Optional[int] = None
    """Payload offset; None places it right after the previous block."""
    fill: Optional[bytes] = None
    """Payload content (default: a pattern derived from the id)."""
    header_crc32: Optional[int] = None
    """Value written as the region header's CRC; None writes the right
    one (a test of corruption detection passes a wrong one)."""


def segment_name() -> str:
    """A name like the manager's: ``snk`` + 22 lowercase base32 chars."""
    return "snk" + "".join(secrets.choice(BASE32) for _ in range(22))


def round_up(value: int, multiple: int) -> int:
    """``value`` rounded up to a multiple of ``multiple``."""
    return (value + multiple - 1) // multiple * multiple


def pattern(region_id: int, size: int) -> bytes:
    """Deterministic payload bytes for a region."""
    return bytes((region_id * 31 + index * 7) % 251 for index in range(size))


def segment_crc32(header: bytes) -> int:
    """The CRC a 256-byte segment header must carry: bytes 8..208."""
    return zlib.crc32(header[S_LAYOUT:S_CRC])


def region_crc32(header: bytes) -> int:
    """The CRC a 64-byte region header must carry: bytes 8..56."""
    return zlib.crc32(header[R_ID:R_CRC])


def segment_header_bytes(segment_bytes: int, kind: int,
                         node_name: str = "snakepit_shm@test",
                         header_crc32: Optional[int] = None) -> bytes:
    """The 256-byte segment header, packed field by field; its CRC is
    computed unless ``header_crc32`` says what to write instead."""
    header = bytearray(SEGMENT_HEADER_BYTES)
    header[S_MAGIC:S_MAGIC + 8] = b"SNKSEG01"
    struct.pack_into("<I", header, S_LAYOUT, 1)
    struct.pack_into("<I", header, S_HEADER_BYTES, 256)
    struct.pack_into("<Q", header, S_SEGMENT_BYTES, segment_bytes)
    struct.pack_into("<I", header, S_KIND, kind)
    struct.pack_into("<I", header, S_FLAGS, 0)
    struct.pack_into("<Q", header, S_CREATED_MS, int(time.time() * 1000))
    struct.pack_into("<Q", header, S_MANAGER_PID, os.getpid())
    struct.pack_into("<Q", header, S_START_TICKS, 12345)
    struct.pack_into("<Q", header, S_INSTANCE_ID, 0x1122334455667788)
    header[S_BOOT_ID:S_BOOT_ID + 16] = bytes(range(16))
    name = node_name.encode("utf-8")
    header[S_NODE_NAME:S_NODE_NAME + len(name)] = name   # NUL padded
    struct.pack_into("<I", header, S_CRC,
                     segment_crc32(bytes(header)) if header_crc32 is None
                     else header_crc32)
    return bytes(header)


def region_header_bytes(spec: RegionSpec, payload_offset: int) -> bytes:
    """The 64-byte region header, packed field by field; its CRC is
    computed unless ``spec.header_crc32`` says what to write instead."""
    header = bytearray(REGION_HEADER_BYTES)
    header[R_MAGIC:R_MAGIC + 4] = b"SNKR"
    struct.pack_into("<H", header, R_LAYOUT, 1)
    struct.pack_into("<H", header, R_STATE, spec.state)
    struct.pack_into("<Q", header, R_ID, spec.region_id)
    struct.pack_into("<Q", header, R_GENERATION, spec.generation)
    struct.pack_into("<Q", header, R_PAYLOAD_BYTES, spec.size)
    struct.pack_into("<Q", header, R_PAYLOAD_OFFSET, payload_offset)
    struct.pack_into("<I", header, R_FLAGS, spec.flags)
    struct.pack_into("<Q", header, R_CREATED_MS, int(time.time() * 1000))
    struct.pack_into("<I", header, R_CRC,
                     region_crc32(bytes(header)) if spec.header_crc32 is None
                     else spec.header_crc32)
    return bytes(header)


def descriptor(path: str, spec: RegionSpec, payload_offset: int,
               access: str = "read_write") -> Dict[str, Any]:
    """The descriptor dict the manager would hand out for ``spec``."""
    return {"id": f"{spec.region_id:016x}", "generation": spec.generation,
            "segment": "/" + os.path.basename(path), "path": path,
            "offset": payload_offset, "size": spec.size, "access": access,
            "tenant": None, "session": None}


def huge_page_bytes(path: str) -> Optional[int]:
    """The huge page size when ``path`` (a file or directory) lies on
    hugetlbfs, else None: the mountinfo line with the path's device number
    must name ``hugetlbfs``; its ``f_bsize`` is then the huge page size."""
    device = os.stat(path).st_dev
    wanted = f"{os.major(device)}:{os.minor(device)}"
    with open("/proc/self/mountinfo", encoding="utf-8") as mountinfo:
        for line in mountinfo:
            fields = line.split()
            if len(fields) > 2 and fields[2] == wanted:
                after = fields[fields.index("-", 6) + 1:]
                if after and after[0] == "hugetlbfs":
                    return os.statvfs(path).f_bsize
                return None
    return None


def write_at(fd: int, writes: Sequence[Tuple[int, bytes]],
             page_bytes: Optional[int] = None) -> None:
    """Apply ``(file_offset, data)`` writes in order: with ``pwrite``, or
    when ``page_bytes`` is given through one shared mapping per write of
    the whole ``page_bytes`` pages it touches (hugetlbfs)."""
    for offset, data in writes:
        if page_bytes is None:
            os.pwrite(fd, data, offset)
            continue
        start = offset // page_bytes * page_bytes
        length = round_up(offset + len(data), page_bytes) - start
        with mmap.mmap(fd, length, offset=start) as mapping:
            mapping[offset - start:offset - start + len(data)] = data


def write_segment(directory: str, regions: List[RegionSpec], *,
                  kind: int = 1, segment_bytes: Optional[int] = None,
                  name: Optional[str] = None,
                  segment_header_crc32: Optional[int] = None
                  ) -> List[Dict[str, Any]]:
    """Create a segment file in ``directory`` holding ``regions``.

    Both header CRCs are right unless ``segment_header_crc32`` (or a
    region's ``header_crc32``) gives the value to write instead.

    The file is created like the manager creates it (O_CREAT|O_EXCL|
    O_NOFOLLOW, mode 0600); the segment magic is written last. On hugetlbfs
    its size is rounded up to whole huge pages (``segment_bytes`` in the
    header says the rounded size), it is allocated with
    ``posix_fallocate`` and written through mappings, never ``pwrite``.

    Returns:
        one read_write descriptor per region, in order.
    """
    path = os.path.join(directory, name or segment_name())
    page_bytes = huge_page_bytes(directory)
    cursor = SEGMENT_HEADER_BYTES
    placed = []
    for spec in regions:
        payload_offset = (spec.offset if spec.offset is not None
                          else cursor + REGION_HEADER_BYTES)
        placed.append((spec, payload_offset))
        cursor = payload_offset + round_up(spec.size, BLOCK_ALIGN)
    total = segment_bytes if segment_bytes is not None else cursor
    if page_bytes is not None:
        total = round_up(total, page_bytes)
    writes: List[Tuple[int, bytes]] = []
    for spec, payload_offset in placed:
        writes.append((payload_offset - REGION_HEADER_BYTES,
                       region_header_bytes(spec, payload_offset)))
        writes.append((payload_offset,
                       spec.fill if spec.fill is not None
                       else pattern(spec.region_id, spec.size)))
    header = segment_header_bytes(total, kind,
                                  header_crc32=segment_header_crc32)
    writes += [(8, header[8:]), (0, header[:8])]         # magic last
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW,
                 0o600)
    try:
        os.ftruncate(fd, total)
        if page_bytes is not None and total:
            os.posix_fallocate(fd, 0, total)
        write_at(fd, [(offset, data) for offset, data in writes if data],
                 page_bytes)
    finally:
        os.close(fd)
    return [descriptor(path, spec, offset) for spec, offset in placed]


def poke(path: str, offset: int, fmt: str, value: Any) -> None:
    """Overwrite one little-endian field at file ``offset`` (through a
    mapping on hugetlbfs)."""
    fd = os.open(path, os.O_RDWR)
    try:
        write_at(fd, [(offset, struct.pack(fmt, value))],
                 huge_page_bytes(path))
    finally:
        os.close(fd)


def flip_byte(path: str, offset: int, mask: int = 0xFF) -> None:
    """Corrupt the byte at file ``offset`` (XOR with ``mask``), leaving
    every CRC as it was: a stray write."""
    [value] = read_file(path, offset, 1)
    poke(path, offset, "<B", value ^ mask)


def region_header_at(desc: Dict[str, Any]) -> int:
    """File offset of the region header of the region ``desc`` names."""
    return desc["offset"] - REGION_HEADER_BYTES


def set_region_state(desc: Dict[str, Any], state: int) -> None:
    """Set the state field of the region a descriptor names (state lies
    outside the CRC, so nothing else changes)."""
    poke(desc["path"], region_header_at(desc) + R_STATE, "<H", state)


def reseal_region_header(desc: Dict[str, Any]) -> None:
    """Rewrite the region header's CRC to match its bytes 8..56."""
    header_at = region_header_at(desc)
    header = read_file(desc["path"], header_at, REGION_HEADER_BYTES)
    poke(desc["path"], header_at + R_CRC, "<I", region_crc32(header))


def reseal_segment_header(path: str) -> None:
    """Rewrite the segment header's CRC to match its bytes 8..208."""
    header = read_file(path, 0, SEGMENT_HEADER_BYTES)
    poke(path, S_CRC, "<I", segment_crc32(header))


def poke_region_field(desc: Dict[str, Any], field: int, fmt: str,
                      value: Any) -> None:
    """Overwrite a region-header field (``field`` is its offset in the
    header) and reseal the CRC: a consistent header, as the manager writes
    when it reuses a block, or a manager that wrote a wrong value."""
    poke(desc["path"], region_header_at(desc) + field, fmt, value)
    reseal_region_header(desc)


def poke_segment_field(path: str, field: int, fmt: str, value: Any) -> None:
    """Overwrite a segment-header field and reseal the CRC."""
    poke(path, field, fmt, value)
    reseal_segment_header(path)


def read_file(path: str, offset: int, length: int) -> bytes:
    """Read bytes straight from the file (not through any mapping; pread
    works on hugetlbfs too)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        return os.pread(fd, length, offset)
    finally:
        os.close(fd)


def read_mapped(path: str, offset: int, length: int,
                page_bytes: int = mmap.ALLOCATIONGRANULARITY) -> bytes:
    """Read bytes through a fresh read-only mapping of their own, aligned
    to ``page_bytes`` (give the huge page size on hugetlbfs)."""
    start = offset // page_bytes * page_bytes
    fd = os.open(path, os.O_RDONLY)
    try:
        size = os.fstat(fd).st_size
        map_length = min(round_up(offset + length, page_bytes), size) - start
        with mmap.mmap(fd, map_length, access=mmap.ACCESS_READ,
                       offset=start) as mapping:
            return bytes(mapping[offset - start:offset - start + length])
    finally:
        os.close(fd)

"""Where mappings of one segment file may start and how long they must be.

On tmpfs (``/dev/shm``) a mapping may start at any multiple of
``mmap.ALLOCATIONGRANULARITY`` (the page size on Linux) and have any length.
On **hugetlbfs** (a manager started with ``--shm-dir`` on such a mount) the
file is made of huge pages (e.g. 2 MiB): ``mmap`` offsets must be multiples
of the huge page size (EINVAL otherwise), and a mapping must also be
*unmapped* in whole huge pages: ``munmap`` of a length that is not a
multiple fails with EINVAL, and CPython's ``mmap.close()`` ignores that
failure, so the mapping would silently stay until the process exits. Hence
on hugetlbfs every mapping this package makes starts on a multiple of the
huge page size and its length is rounded up to whole huge pages (capped at
the file size, which hugetlbfs keeps a multiple of the huge page size).

Detection, per open file (:func:`file_geometry`):

1. ``os.fstatvfs(fd).f_bsize`` at most ``mmap.ALLOCATIONGRANULARITY``: not
   hugetlbfs (its ``f_bsize`` is the huge page size, always larger than the
   base page), granule = ``ALLOCATIONGRANULARITY``. This is the fast path for
   tmpfs and costs one syscall.
2. Otherwise ``/proc/self/mountinfo`` decides: the line whose device number
   (``major:minor``) equals the file's ``st_dev`` names the file system type.
   ``hugetlbfs`` gives granule ``f_bsize``; any other type (NFS, for one,
   reports its transfer size as ``f_bsize``) keeps ``ALLOCATIONGRANULARITY``.
3. No such line, or mountinfo unreadable (no /proc): treated as hugetlbfs,
   the safe side, since a larger granule that is a multiple of the page size
   is valid on every file system and only maps a little more.

Reading and writing the segment with ``read``/``write`` syscalls is not
needed: the package reads the segment header with ``os.pread``, which
hugetlbfs supports (verified on Linux 6.18; ``read`` has been supported by
hugetlbfs for a long time), and never writes with ``pwrite`` (which fails
with EINVAL on hugetlbfs); all writes go through mappings.
"""

from __future__ import annotations

import math
import mmap
import os
from dataclasses import dataclass
from typing import Optional

PAGE_GRANULE_BYTES = mmap.ALLOCATIONGRANULARITY
"""The granule on ordinary file systems (4096 on Linux x86-64)."""

HUGETLBFS = "hugetlbfs"
"""The file system type name in /proc/self/mountinfo."""

MOUNTINFO_PATH = "/proc/self/mountinfo"

HUGE_PAGE_ENOMEM_HINT = (
    "; on hugetlbfs ENOMEM can also mean the huge page pool is exhausted: "
    "see HugePages_Free in /proc/meminfo, raise vm.nr_hugepages")
"""Appended to ENOMEM messages for files on hugetlbfs."""


@dataclass(frozen=True)
class MapGeometry:
    """Mapping rules for one open segment file.

    Attributes:
        granule_bytes: mappings start on multiples of this; a multiple of
            ``mmap.ALLOCATIONGRANULARITY`` (the huge page size on hugetlbfs).
        file_bytes: the file size at attach time (mappings never pass it).
        huge_pages: True on hugetlbfs: mapping lengths are rounded up to
            whole granules so that unmapping works.
        fs_type: the file system type if mountinfo was consulted, else None.
    """

    granule_bytes: int
    file_bytes: int
    huge_pages: bool = False
    fs_type: Optional[str] = None

    def floor(self, file_offset: int) -> int:
        """``file_offset`` rounded down to a multiple of the granule."""
        return file_offset // self.granule_bytes * self.granule_bytes

    def whole_granules(self, window_bytes: int) -> int:
        """``window_bytes`` rounded down to whole granules, at least one."""
        return max(self.granule_bytes, self.floor(window_bytes))

    def map_length(self, map_offset: int, view_end: int) -> int:
        """Bytes to map from ``map_offset`` so that ``view_end`` is covered:
        exactly up to ``view_end`` on ordinary file systems, whole granules
        (capped at the file's end) on hugetlbfs."""
        length = view_end - map_offset
        if not self.huge_pages:
            return length
        rounded = -(-length // self.granule_bytes) * self.granule_bytes
        return max(length, min(rounded, self.file_bytes - map_offset))

    @property
    def enomem_hint(self) -> str:
        """Extra words for ENOMEM messages (empty off hugetlbfs)."""
        return HUGE_PAGE_ENOMEM_HINT if self.huge_pages else ""


def file_geometry(fd: int, file_bytes: int) -> MapGeometry:
    """The mapping rules for the open file ``fd`` of ``file_bytes`` bytes.

    Raises:
        OSError: ``fstatvfs`` or ``fstat`` failed.
    """
    block_bytes = os.fstatvfs(fd).f_bsize
    if block_bytes <= PAGE_GRANULE_BYTES:
        return MapGeometry(PAGE_GRANULE_BYTES, file_bytes)
    device = os.fstat(fd).st_dev
    fs_type = mount_fs_type(os.major(device), os.minor(device))
    if fs_type is not None and fs_type != HUGETLBFS:
        return MapGeometry(PAGE_GRANULE_BYTES, file_bytes, fs_type=fs_type)
    return MapGeometry(math.lcm(PAGE_GRANULE_BYTES, block_bytes), file_bytes,
                       huge_pages=True, fs_type=fs_type)


def mount_fs_type(major: int, minor: int,
                  mountinfo_path: str = MOUNTINFO_PATH) -> Optional[str]:
    """The file system type of the mount with device ``major:minor`` in
    this process's mount namespace, or None if unknown."""
    try:
        with open(mountinfo_path, encoding="utf-8",
                  errors="surrogateescape") as mountinfo:
            return parse_mountinfo_fs_type(mountinfo.read(), major, minor)
    except OSError:
        return None


def parse_mountinfo_fs_type(text: str, major: int,
                            minor: int) -> Optional[str]:
    """The file system type of the first line of a mountinfo ``text`` whose
    third field is ``major:minor`` (the type is the first field after the
    ``-`` separator; see proc(5)); None when no line matches."""
    wanted = f"{major}:{minor}"
    for line in text.splitlines():
        fields = line.split(" ")
        if len(fields) < 3 or fields[2] != wanted:
            continue
        try:
            separator = fields.index("-", 6)
        except ValueError:
            continue
        if separator + 1 < len(fields):
            return fields[separator + 1]
    return None

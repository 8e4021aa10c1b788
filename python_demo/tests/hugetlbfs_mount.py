"""A private hugetlbfs mount for a test, with a huge page pool to back it.

:func:`mount_hugetlbfs` (root only) makes sure at least ``pages_needed``
default-size huge pages are free, raising ``/proc/sys/vm/nr_hugepages`` if
needed, then mounts hugetlbfs on a fresh ``/tmp/snktest-py-huge-<random>``.
:meth:`HugetlbfsMount.cleanup` always unmounts (lazily if a mapping still
pins it, which it reports as an error), removes the directory and puts
``nr_hugepages`` back: to the old value, unless someone else changed it
while the test ran (other suites may share the pool), which it then leaves
alone with a warning.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import warnings
from dataclasses import dataclass, field
from typing import List, Optional

NR_HUGEPAGES_PATH = "/proc/sys/vm/nr_hugepages"
MEMINFO_PATH = "/proc/meminfo"
MOUNT_ROOT = "/tmp"
MOUNT_PREFIX = "snktest-py-huge-"
HUGE_PAGE_BYTES = 2 * 1024 * 1024
COMMAND_TIMEOUT_S = 30


class HugetlbfsUnavailable(Exception):
    """hugetlbfs cannot be set up here; the message says why (skip reason)."""


@dataclass
class HugetlbfsMount:
    """A mounted hugetlbfs and what to undo."""

    directory: str
    page_bytes: int
    old_nr_hugepages: Optional[int] = None
    """The pool size before we raised it; None when left untouched."""
    set_nr_hugepages: Optional[int] = None
    mounted: bool = False
    problems: List[str] = field(default_factory=list)

    def cleanup(self) -> List[str]:
        """Unmount, remove the directory, restore the pool. Never raises;
        returns what went wrong (a mount pinned by a live mapping, a
        directory left, a pool that could not be restored)."""
        if self.mounted:
            try:
                for entry in os.scandir(self.directory):
                    if entry.is_dir(follow_symlinks=False):
                        shutil.rmtree(entry.path, ignore_errors=True)
                    else:
                        os.unlink(entry.path)
            except OSError as exc:
                self.problems.append(f"emptying {self.directory}: {exc}")
            done = _run(["umount", self.directory])
            if done.returncode != 0:
                self.problems.append(
                    f"umount {self.directory} failed ({done.stderr.strip()}):"
                    " a mapping of a file in it was still alive; detached "
                    "lazily")
                _run(["umount", "-l", self.directory])
            self.mounted = False
        try:
            os.rmdir(self.directory)
        except FileNotFoundError:
            pass
        except OSError as exc:
            self.problems.append(f"rmdir {self.directory}: {exc}")
        self._restore_pool()
        return self.problems

    def _restore_pool(self) -> None:
        """Put the old pool size back if the pool is still as we set it;
        if another process changed it meanwhile, leave it and warn (not
        this test's fault)."""
        old, self.old_nr_hugepages = self.old_nr_hugepages, None
        if old is None:
            return
        try:
            current = read_int(NR_HUGEPAGES_PATH)
            if current == self.set_nr_hugepages:
                write_int(NR_HUGEPAGES_PATH, old)
                return
        except OSError as exc:
            self.problems.append(f"restoring vm.nr_hugepages={old}: {exc}")
            return
        warnings.warn(
            f"vm.nr_hugepages is {current}, not the {self.set_nr_hugepages} "
            f"this test set; left as is instead of restoring {old} (another "
            f"process changed it meanwhile)")


def mount_hugetlbfs(pages_needed: int) -> HugetlbfsMount:
    """Mount a fresh hugetlbfs with ``pages_needed`` 2 MiB pages free.

    Raises:
        HugetlbfsUnavailable: not root, no 2 MiB default huge pages, the
            pool cannot grow, or mount failed (everything already undone).
    """
    if os.geteuid() != 0:
        raise HugetlbfsUnavailable(
            "hugetlbfs tests need root (mount, vm.nr_hugepages)")
    if not os.path.exists(NR_HUGEPAGES_PATH):
        raise HugetlbfsUnavailable(f"{NR_HUGEPAGES_PATH} missing: this "
                                   "kernel has no hugetlb support")
    default_kib = meminfo_value("Hugepagesize")
    if default_kib * 1024 != HUGE_PAGE_BYTES:
        raise HugetlbfsUnavailable(
            f"default huge page size is {default_kib} kB; these tests are "
            f"written for 2048 kB")
    directory = tempfile.mkdtemp(prefix=MOUNT_PREFIX, dir=MOUNT_ROOT)
    mount = HugetlbfsMount(directory=directory, page_bytes=HUGE_PAGE_BYTES)
    try:
        _grow_pool(mount, pages_needed)
        try:
            done = _run(["mount", "-t", "hugetlbfs", "-o",
                         "pagesize=2M,mode=0700", "snktest-py-huge",
                         directory])
        except OSError as exc:
            raise HugetlbfsUnavailable(f"cannot run mount: {exc}") from exc
        if done.returncode != 0:
            raise HugetlbfsUnavailable(
                f"mount -t hugetlbfs failed: {done.stderr.strip()}")
        mount.mounted = True
        if os.statvfs(directory).f_bsize != HUGE_PAGE_BYTES:
            raise HugetlbfsUnavailable(
                f"{directory}: f_bsize is not {HUGE_PAGE_BYTES} after mount")
    except BaseException:
        mount.cleanup()
        raise
    return mount


def _grow_pool(mount: HugetlbfsMount, pages_needed: int) -> None:
    """Raise vm.nr_hugepages until ``pages_needed`` pages are free and not
    reserved: to the pages in use or reserved (surplus ones included; the
    write turns them persistent) plus ``pages_needed``."""
    if usable_free_pages() >= pages_needed:
        return
    old = read_int(NR_HUGEPAGES_PATH)
    taken = meminfo_value("HugePages_Total") - usable_free_pages()
    wanted = max(old, taken + pages_needed)
    mount.old_nr_hugepages = old
    mount.set_nr_hugepages = wanted
    try:
        write_int(NR_HUGEPAGES_PATH, wanted)
    except OSError as exc:
        mount.old_nr_hugepages = None
        raise HugetlbfsUnavailable(
            f"cannot raise vm.nr_hugepages to {wanted}: {exc}") from exc
    got = read_int(NR_HUGEPAGES_PATH)
    mount.set_nr_hugepages = got
    if usable_free_pages() < pages_needed:
        raise HugetlbfsUnavailable(
            f"asked for vm.nr_hugepages={wanted}, the kernel gave {got}: not "
            f"{pages_needed} free 2 MiB pages (memory fragmented or short)")


def usable_free_pages() -> int:
    """Free huge pages not reserved by existing mappings."""
    return meminfo_value("HugePages_Free") - meminfo_value("HugePages_Rsvd")


def meminfo_value(key: str) -> int:
    """The number after ``key:`` in /proc/meminfo (kB or a count)."""
    with open(MEMINFO_PATH) as meminfo:
        for line in meminfo:
            name, _, rest = line.partition(":")
            if name == key:
                return int(rest.split()[0])
    raise HugetlbfsUnavailable(f"{key} missing from {MEMINFO_PATH}")


def read_int(path: str) -> int:
    with open(path) as handle:
        return int(handle.read().strip())


def write_int(path: str, value: int) -> None:
    with open(path, "w") as handle:
        handle.write(f"{value}\n")


def _run(command: List[str]) -> "subprocess.CompletedProcess[str]":
    return subprocess.run(command, capture_output=True, text=True,
                          timeout=COMMAND_TIMEOUT_S, check=False)

"""Shared fixtures: a private directory under /dev/shm per test, removed
afterwards; a private hugetlbfs mount (root only); and a session check that
nothing was left behind (directories, mounts)."""

from __future__ import annotations

import glob
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Dict, Iterator

import pytest

from hugetlbfs_mount import (MOUNT_PREFIX, MOUNT_ROOT, HugetlbfsUnavailable,
                             mount_hugetlbfs)

PYTHON_DEMO = Path(__file__).resolve().parents[1]
if str(PYTHON_DEMO) not in sys.path:
    sys.path.insert(0, str(PYTHON_DEMO))

SHM_ROOT = "/dev/shm"
TEST_DIR_PREFIX = "snktest-py-"


def subprocess_env(**extra: str) -> Dict[str, str]:
    """Environment for child Pythons: the package importable, unbuffered."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(PYTHON_DEMO) + (
        os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


@pytest.fixture
def shm_dir(tmp_path: Path) -> Iterator[str]:
    """A fresh directory on tmpfs (/dev/shm/snktest-py-<random>), removed
    with everything in it when the test ends, pass or fail."""
    if os.path.isdir(SHM_ROOT) and os.access(SHM_ROOT, os.W_OK):
        directory = tempfile.mkdtemp(prefix=TEST_DIR_PREFIX, dir=SHM_ROOT)
    else:
        directory = str(tmp_path / "shm")
        os.mkdir(directory, 0o700)
    try:
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)


HUGE_PAGES_NEEDED = 16
"""Free 2 MiB pages a hugetlbfs test may use (32 MiB) unless it says more
with ``@pytest.mark.huge_pages(n)``."""


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "huge_pages(count): free 2 MiB huge pages the "
        "hugetlbfs_dir fixture must provide (default 16)")


@pytest.fixture
def hugetlbfs_dir(request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh hugetlbfs mount (2 MiB pages) on /tmp/snktest-py-huge-<random>
    with at least HUGE_PAGES_NEEDED (or the test's ``huge_pages`` mark) free
    pages, raising vm.nr_hugepages if needed. Teardown always unmounts,
    removes the directory and restores vm.nr_hugepages; a mount pinned by a
    leftover mapping is detached lazily and fails the test. Skipped when not
    root or hugetlbfs is unavailable."""
    mark = request.node.get_closest_marker("huge_pages")
    pages = HUGE_PAGES_NEEDED if mark is None else int(mark.args[0])
    try:
        mount = mount_hugetlbfs(pages)
    except HugetlbfsUnavailable as exc:
        pytest.skip(f"hugetlbfs unavailable: {exc}")
    try:
        yield mount.directory
    finally:
        problems = mount.cleanup()
    assert not problems, "; ".join(problems)


@pytest.fixture(scope="session", autouse=True)
def nothing_left_in_dev_shm() -> Iterator[None]:
    """Fail the session if any test directory survives under /dev/shm or
    /tmp, or a test hugetlbfs is still mounted."""
    yield
    leftovers = glob.glob(os.path.join(SHM_ROOT, TEST_DIR_PREFIX + "*"))
    leftovers += glob.glob(os.path.join(MOUNT_ROOT, MOUNT_PREFIX + "*"))
    assert not leftovers, f"left behind: {leftovers}"
    if os.path.exists("/proc/self/mounts"):
        with open("/proc/self/mounts") as mounts:
            mounted = [line for line in mounts if MOUNT_PREFIX in line]
        assert not mounted, f"still mounted: {mounted}"

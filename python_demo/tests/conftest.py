"""Shared fixtures: a private directory under /dev/shm per test, removed
afterwards, and a session check that nothing was left behind."""

from __future__ import annotations

import glob
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Dict, Iterator

import pytest

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


@pytest.fixture(scope="session", autouse=True)
def nothing_left_in_dev_shm() -> Iterator[None]:
    """Fail the session if any test directory survives under /dev/shm."""
    yield
    leftovers = glob.glob(os.path.join(SHM_ROOT, TEST_DIR_PREFIX + "*"))
    assert not leftovers, f"left in {SHM_ROOT}: {leftovers}"

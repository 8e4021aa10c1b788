"""Closing, exiting or dying never removes the segment file, and two
processes mapping one region see each other's writes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from typing import Any, Dict

from conftest import subprocess_env
from segment_builder import RegionSpec, pattern, read_file, write_segment
from snakepit_shm import attach

CHILD_TIMEOUT_S = 30


def one_region(shm_dir: str) -> Dict[str, Any]:
    return write_segment(shm_dir, [RegionSpec(size=1024, region_id=0x51,
                                              generation=4)])[0]


def run_child(script: str,
              desc: Dict[str, Any]) -> "subprocess.CompletedProcess[str]":
    return subprocess.run([sys.executable, "-c", script, json.dumps(desc)],
                          env=subprocess_env(), capture_output=True,
                          text=True, timeout=CHILD_TIMEOUT_S)


def test_close_keeps_the_file_and_its_bytes(shm_dir: str) -> None:
    desc = one_region(shm_dir)
    with attach(desc) as region:
        region.write(0, b"kept")
    assert os.path.exists(desc["path"])
    assert read_file(desc["path"], desc["offset"], 4) == b"kept"


def test_child_that_attaches_writes_and_exits_leaves_the_file(
        shm_dir: str) -> None:
    desc = one_region(shm_dir)
    script = (
        "import json, sys\n"
        "from snakepit_shm import attach\n"
        "region = attach(json.loads(sys.argv[1]))\n"
        "region.write(0, b'child')\n"
        "print('attached', flush=True)\n")          # exits without close()
    result = run_child(script, desc)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "attached"
    assert os.path.exists(desc["path"])
    assert read_file(desc["path"], desc["offset"], 5) == b"child"


def test_child_killed_while_attached_leaves_the_file(shm_dir: str) -> None:
    desc = one_region(shm_dir)
    script = (
        "import json, sys, time\n"
        "from snakepit_shm import attach\n"
        "region = attach(json.loads(sys.argv[1]))\n"
        "print('holding', flush=True)\n"
        "time.sleep(60)\n")
    child = subprocess.Popen([sys.executable, "-c", script, json.dumps(desc)],
                             env=subprocess_env(), stdout=subprocess.PIPE,
                             text=True)
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "holding"
        child.send_signal(signal.SIGKILL)
        assert child.wait(timeout=CHILD_TIMEOUT_S) == -signal.SIGKILL
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        if child.stdout is not None:
            child.stdout.close()
    assert os.path.exists(desc["path"])
    assert read_file(desc["path"], desc["offset"], 1024) == pattern(0x51, 1024)


def test_no_file_removal_is_ever_attempted(shm_dir: str) -> None:
    """An audit hook in a child records every os.remove/unlink/rename/
    truncate while it attaches, uses the worker ops, closes and exits."""
    desc = one_region(shm_dir)
    script = (
        "import json, sys\n"
        "events = []\n"
        "watched = {'os.remove', 'os.rmdir', 'os.rename', 'os.truncate',\n"
        "           'shutil.rmtree'}\n"
        "sys.addaudithook(lambda name, args: name in watched and\n"
        "                 events.append((name, args)))\n"
        "from snakepit_shm import attach, ops\n"
        "desc = json.loads(sys.argv[1])\n"
        "with attach(desc) as region:\n"
        "    ops.fill(region, 7)\n"
        "    ops.sha256_hex(region)\n"
        "ops.attach_time_micros(desc)\n"
        "kept = attach(desc)\n"
        "import atexit\n"
        "atexit.register(lambda: print(json.dumps(\n"
        "    [name for name, _ in events]), flush=True))\n")
    result = run_child(script, desc)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == []
    assert read_file(desc["path"], desc["offset"], 1024) == b"\x07" * 1024


def test_package_never_uses_multiprocessing_shared_memory(
        shm_dir: str) -> None:
    desc = one_region(shm_dir)
    script = (
        "import json, sys\n"
        "from snakepit_shm import attach, ops, worker\n"
        "with attach(json.loads(sys.argv[1])) as region:\n"
        "    ops.sha256_hex(region)\n"
        "print(json.dumps(sorted(m for m in sys.modules\n"
        "                        if m.startswith('multiprocessing'))))\n")
    result = run_child(script, desc)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == []


def test_two_processes_see_each_others_writes(shm_dir: str) -> None:
    desc = one_region(shm_dir)
    script = (
        "import json, sys\n"
        "from snakepit_shm import attach\n"
        "with attach(json.loads(sys.argv[1])) as region:\n"
        "    assert region.read(0, 6) == b'parent', region.read(0, 6)\n"
        "    region.write(512, b'child')\n")
    with attach(desc) as region:
        region.write(0, b"parent")
        result = run_child(script, desc)
        assert result.returncode == 0, result.stderr
        assert region.read(512, 5) == b"child"    # no re-attach needed

"""Benchmark (not a test): attach many regions of a few segments at once.

Writes ``--segments`` pooled segments holding ``--regions`` regions in all
under a fresh ``/dev/shm/snkbench-*`` directory (with the tests' segment
builder), then, in a child Python per package version, attaches every
region (keeping all of them open), counts the file descriptors and the
mappings the process gained, and closes them all. It prints one line per
version and removes the directory (and any extracted old version)
afterwards, also on failure.

The versions compared: this checkout's ``snakepit_shm`` ("now") and, with
``--rev REV`` (default ``HEAD``), the package as committed at ``REV``
("REV"), extracted with ``git archive`` (once one mapping per segment is
committed, pass a commit before it to compare with one mapping per
region); ``--rev ''`` measures only this checkout. The child raises its
descriptor limit as far as it may, since an older version needs two
descriptors per region.

    python3 python_demo/bench/attach_many.py [--regions 10000]
        [--segments 4] [--size 256] [--rev HEAD]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import resource
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

PYTHON_DEMO = Path(__file__).resolve().parents[1]
REPO = PYTHON_DEMO.parent
sys.path.insert(0, str(PYTHON_DEMO / "tests"))

SHM_ROOT = "/dev/shm"


def make_segments(directory: str, regions: int, segments: int,
                  size: int) -> List[Dict[str, Any]]:
    """``regions`` descriptors spread over ``segments`` pooled segments."""
    from segment_builder import BLOCK_ALIGN, RegionSpec, write_segment
    per_segment = -(-regions // segments)
    block = 64 + -(-size // BLOCK_ALIGN) * BLOCK_ALIGN
    descs: List[Dict[str, Any]] = []
    next_id = 1
    while len(descs) < regions:
        count = min(per_segment, regions - len(descs))
        specs = [RegionSpec(size=size, region_id=next_id + index,
                            generation=1, fill=bytes(size))
                 for index in range(count)]
        next_id += count
        descs += write_segment(directory, specs,
                               segment_bytes=256 + count * block)
    return descs


def extract_rev(rev: str, into: str) -> str:
    """``python_demo/snakepit_shm`` as of ``rev``, under ``into``; returns
    the directory to put on ``PYTHONPATH``."""
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", "--format=tar", rev,
         "python_demo/snakepit_shm"], check=True, capture_output=True).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(into)
    return os.path.join(into, "python_demo")


def measure(descs_file: str) -> Dict[str, Any]:
    """In the child: attach everything, count, close everything."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    for wanted in (1 << 20, 1 << 17, hard):
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, wanted))
            break
        except (ValueError, OSError):
            continue
    import snakepit_shm
    from snakepit_shm import attach
    with open(descs_file) as source:
        descs = json.load(source)

    def fds() -> int:
        return len(os.listdir("/proc/self/fd"))

    def mappings() -> int:
        with open("/proc/self/maps") as maps:
            return sum(1 for line in maps if "/snkbench-" in line)

    fds_before = fds()
    regions = []
    failure: Optional[str] = None
    started = time.perf_counter()
    try:
        for desc in descs:
            regions.append(attach(desc))
    except Exception as exc:             # e.g. EMFILE with the old version
        failure = f"{type(exc).__name__}: {exc}"[:160]
    attach_s = time.perf_counter() - started
    touched = sum(region.read(0, 1)[0] for region in regions)
    result = {"package": os.path.dirname(snakepit_shm.__file__),
              "attached": len(regions), "attach_s": attach_s,
              "fds": fds() - fds_before, "mappings": mappings(),
              "failure": failure, "touched": touched,
              "nofile_limit": resource.getrlimit(resource.RLIMIT_NOFILE)[0]}
    started = time.perf_counter()
    for region in regions:
        region.close()
    result["close_s"] = time.perf_counter() - started
    result["fds_after_close"] = fds() - fds_before
    return result


def run_version(label: str, package_dir: str,
                descs_file: str) -> Dict[str, Any]:
    env = dict(os.environ, PYTHONPATH=package_dir)
    child = subprocess.run(
        [sys.executable, __file__, "--measure", descs_file], env=env,
        capture_output=True, text=True, check=False)
    if child.returncode != 0:
        raise SystemExit(f"{label}: the measuring child failed:\n"
                         f"{child.stderr}")
    result = dict(json.loads(child.stdout))
    result["label"] = label
    return result


def report(result: Dict[str, Any]) -> str:
    attached = result["attached"]
    per_us = result["attach_s"] / max(attached, 1) * 1e6
    line = (f"{result['label']:>8}: attached {attached} regions in "
            f"{result['attach_s'] * 1000:.1f} ms ({per_us:.1f} us each), "
            f"+{result['fds']} fds, {result['mappings']} mappings; "
            f"closed in {result['close_s'] * 1000:.1f} ms, "
            f"+{result['fds_after_close']} fds left")
    if result["failure"]:
        line += f"; STOPPED: {result['failure']}"
    return line


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--regions", type=int, default=10_000)
    parser.add_argument("--segments", type=int, default=4)
    parser.add_argument("--size", type=int, default=256,
                        help="payload bytes per region")
    parser.add_argument("--rev", default="HEAD",
                        help="git revision to compare with ('' for none)")
    parser.add_argument("--measure", metavar="DESCS_JSON",
                        help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.measure:
        print(json.dumps(measure(args.measure)))
        return 0
    if args.regions < 1 or args.segments < 1 or args.size < 0:
        parser.error("--regions and --segments must be >= 1, --size >= 0")
    directory = tempfile.mkdtemp(prefix="snkbench-", dir=SHM_ROOT)
    scratch = tempfile.mkdtemp(prefix="snkbench-src-")
    try:
        descs = make_segments(directory, args.regions, args.segments,
                              args.size)
        descs_file = os.path.join(scratch, "descs.json")
        with open(descs_file, "w") as sink:
            json.dump(descs, sink)
        print(f"{args.regions} regions of {args.size} bytes in "
              f"{args.segments} segments ({sys.version.split()[0]})")
        results = [run_version("now", str(PYTHON_DEMO), descs_file)]
        if args.rev:
            old = extract_rev(args.rev, scratch)
            results.append(run_version(args.rev, old, descs_file))
        for result in results:
            print(report(result))
    finally:
        shutil.rmtree(directory, ignore_errors=True)
        shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Python side of the map/attach benchmark (benchmarks/map_attach.exs).

    python3 map_attach.py --descriptors FILE.json --out FILE.json [--run-id RID]

FILE.json holds ``{"regions": [{"desc": DESCRIPTOR, "reps_first_last": n,
"reps_every_page": n}, ...]}``. For each region, two timings, each repeated and
reported as the median (and every sample):

* ``first_last``: ``snakepit_shm.attach(desc)`` (open, fstat, pread of the segment
  header, mmap of the window, check of the region header, close of the fd), a numpy
  uint8 view of the payload, and a read of its first and last byte;
* ``every_page``: the same, then one byte read in every 4 KiB page of the payload
  (``view[::4096].sum()``), which takes the page faults a real consumer takes.

The mapping is closed (munmap) after each repetition, outside the timed part, so
every repetition maps afresh.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any, Dict, List

from snakepit_shm import attach

PAGE_BYTES = 4096


def time_first_last(desc: Dict[str, Any]) -> int:
    t0 = time.perf_counter_ns()
    region = attach(desc)
    view = region.numpy("u1")
    _ = int(view[0]) + int(view[-1])
    elapsed = time.perf_counter_ns() - t0
    del view
    region.close()
    return elapsed


def time_every_page(desc: Dict[str, Any]) -> int:
    t0 = time.perf_counter_ns()
    region = attach(desc)
    view = region.numpy("u1")
    _ = int(view[::PAGE_BYTES].sum()) + int(view[-1])
    elapsed = time.perf_counter_ns() - t0
    del view
    region.close()
    return elapsed


def median_us(samples: List[int]) -> float:
    """Nearest-rank median (the lower middle sample), as the other benchmarks use."""
    return round(sorted(samples)[(len(samples) - 1) // 2] / 1000, 2)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--descriptors", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--run-id", default="")
    args = parser.parse_args()
    with open(args.descriptors, encoding="utf-8") as f:
        regions = json.load(f)["regions"]

    results = []
    for entry in regions:
        desc = entry["desc"]
        time_first_last(desc)  # warm-up: imports, code paths
        first_last = [time_first_last(desc) for _ in range(entry["reps_first_last"])]
        every_page = [time_every_page(desc) for _ in range(entry["reps_every_page"])]
        result = {
            "size_bytes": desc["size"],
            "first_last_median_us": median_us(first_last),
            "first_last_min_us": round(min(first_last) / 1000, 2),
            "every_page_median_us": median_us(every_page),
            "every_page_min_us": round(min(every_page) / 1000, 2),
            "first_last_samples_us": [round(s / 1000, 2) for s in first_last],
            "every_page_samples_us": [round(s / 1000, 2) for s in every_page],
        }
        results.append(result)
        print(f"map/attach python {desc['size']:>11} B: attach+view+first/last byte "
              f"{result['first_last_median_us']} us, every page "
              f"{result['every_page_median_us']} us (medians of "
              f"{len(first_last)}/{len(every_page)})", flush=True)

    with open(args.out, "w", encoding="utf-8") as f:
        json.dump({"method": "snakepit_shm.attach + numpy view (Python "
                             f"{sys.version.split()[0]})",
                   "sizes": results}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())

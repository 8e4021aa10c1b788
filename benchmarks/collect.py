#!/usr/bin/env python3
"""Merge the per-part outputs of one benchmark run into ``results.json`` (stdlib only).

    collect.py machine --root REPO --out OUT/machine-start.json
    collect.py merge --root REPO --out-dir OUT --mode quick|full --command CMD \\
        --started ISO --parts "a b" [--failed "c"]

``machine`` records the machine facts (and the load average) before the run starts.
``merge`` reads ``OUT/<part>.json`` written by each benchmark script (and the
Python/Java files of map_attach), adds the run's facts, the machine, the goals of
issue 3 (goals.py), and writes ``OUT/results.json``. Parts that failed or did not run
are simply absent.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
from typing import Any, Dict, Optional

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from goals import evaluate  # noqa: E402
from machine import load_average, machine_info  # noqa: E402

SCHEMA_VERSION = 1
PARTS = ("control_path", "data_path", "map_attach", "scale")


def _load(path: str) -> Optional[Dict[str, Any]]:
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        return None


def merge(args: argparse.Namespace) -> Dict[str, Any]:
    out = args.out_dir
    machine = _load(os.path.join(out, "machine-start.json")) or machine_info(args.root)
    machine["load_average_end"] = load_average()
    finished = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    started = dt.datetime.fromisoformat(args.started)
    results: Dict[str, Any] = {
        "schema": SCHEMA_VERSION,
        "run": {
            "id": os.path.basename(os.path.normpath(out)),
            "mode": args.mode,
            "command": args.command,
            "started": started.isoformat(),
            "finished": finished.isoformat(),
            "duration_s": round((finished - started).total_seconds()),
            "parts": args.parts.split(),
            "failed": args.failed.split(),
        },
        "machine": machine,
    }
    for part in PARTS:
        data = _load(os.path.join(out, f"{part}.json"))
        if data is not None:
            results[part] = data
    if "map_attach" in results:
        results["map_attach"]["python"] = _load(os.path.join(out, "map_attach_python.json"))
        results["map_attach"]["java"] = _load(os.path.join(out, "map_attach_java.json"))
    results["goals"] = evaluate(results)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command_name", required=True)
    m = sub.add_parser("machine", help="record machine facts before a run")
    m.add_argument("--root", required=True)
    m.add_argument("--out", required=True)
    g = sub.add_parser("merge", help="write OUT/results.json")
    g.add_argument("--root", required=True)
    g.add_argument("--out-dir", required=True)
    g.add_argument("--mode", required=True, choices=("quick", "full"))
    g.add_argument("--command", required=True)
    g.add_argument("--started", required=True)
    g.add_argument("--parts", default="")
    g.add_argument("--failed", default="")
    args = parser.parse_args()

    if args.command_name == "machine":
        with open(args.out, "w", encoding="utf-8") as f:
            json.dump(machine_info(args.root), f, indent=1)
        return 0
    results = merge(args)
    path = os.path.join(args.out_dir, "results.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(results, f, indent=1, ensure_ascii=False)
        f.write("\n")
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())

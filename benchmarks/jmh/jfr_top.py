#!/usr/bin/env python3
"""Where a JMH benchmark thread spends its time and allocates, from a JFR recording.

Reads jdk.ExecutionSample / jdk.NativeMethodSample (CPU) and jdk.ObjectAllocationSample
(allocation) events through the JDK's `jfr print --json`, keeps the samples whose stack
passes through the measured method (``--frame``, default ``allocateReleaseTick``), and
prints self and inclusive shares per method, and allocated bytes by class and by the
registry frame that allocated them. Stdlib only.

Usage: jfr_top.py RECORDING.jfr [--frame NAME] [--top N]
"""
from __future__ import annotations

import argparse
import collections
import json
import re
import subprocess
import sys

# Frames of JMH's harness and reflection: always 100 % inclusive, so not worth printing.
HARNESS_PREFIXES = ("org.openjdk.jmh.", "java.util.concurrent.", "java.lang.Thread.", "java.lang.reflect.",
                    "jdk.internal.reflect.", "io.snakepit.shm.bench.")
OWN_PREFIXES = ("io.snakepit.shm.registry.", "io.snakepit.shm.segment.", "io.snakepit.shm.platform.")


def events(recording: str, names: str, depth: int) -> list[dict]:
    """The recording's events of the given comma-separated types, as JSON objects."""
    proc = subprocess.run(["jfr", "print", "--json", "--stack-depth", str(depth), "--events", names, recording],
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        sys.exit(f"jfr_top: `jfr print` failed on {recording}: {proc.stderr.strip()} "
                 "(is the JDK's bin/jfr on PATH and the file a finished recording?)")
    return json.loads(proc.stdout)["recording"]["events"]


def frames_of(event: dict) -> list[str]:
    """Method names of an event's stack, innermost first, as package.Class.method."""
    trace = event["values"].get("stackTrace") or {"frames": []}
    return [class_name(f["method"]["type"]["name"]) + "." + f["method"]["name"] for f in trace["frames"]]


def class_name(jfr_name: str) -> str:
    """A JFR type name as a dotted class name; a hidden class (lambda) loses its /<id> suffix."""
    return re.sub(r"/\d+$", "", jfr_name).replace("/", ".")


def short(name: str) -> str:
    """Class.method without the package (a lambda keeps its enclosing class: Outer$$Lambda$65+0x...)."""
    cls, _, method = name.rpartition(".")
    return cls.rpartition(".")[2].split("+0x")[0] + "." + method


def cpu(recording: str, frame: str, top: int) -> None:
    self_count: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    samples = 0
    for e in events(recording, "jdk.ExecutionSample,jdk.NativeMethodSample", 64):
        names = frames_of(e)
        if not any(n.endswith("." + frame) for n in names):
            continue
        samples += 1
        self_count[short(names[0])] += 1
        for n in set(names):
            if not n.startswith(HARNESS_PREFIXES):
                inclusive[short(n)] += 1
    print(f"CPU: {samples} samples through {frame}")
    if samples == 0:
        return
    print("  self (top frame):")
    for name, n in self_count.most_common(top):
        print(f"    {100 * n / samples:5.1f}%  {name}")
    print("  inclusive:")
    for name, n in inclusive.most_common(top):
        print(f"    {100 * n / samples:5.1f}%  {name}")


def allocation(recording: str, frame: str, top: int) -> None:
    by_class: collections.Counter[str] = collections.Counter()
    by_site: collections.Counter[tuple[str, str]] = collections.Counter()
    total = 0
    for e in events(recording, "jdk.ObjectAllocationSample", 16):
        names = frames_of(e)
        if not any(n.endswith("." + frame) for n in names):
            continue
        cls = class_name(e["values"]["objectClass"]["name"])
        weight = int(e["values"]["weight"])
        total += weight
        by_class[cls] += weight
        site = next((n for n in names if n.startswith(OWN_PREFIXES)), names[0] if names else "?")
        by_site[(cls, short(site))] += weight
    print(f"allocation: {total} sampled bytes through {frame} (JFR's weighted samples: shares, not exact)")
    if total == 0:
        return
    print("  by class:")
    for cls, w in by_class.most_common(top):
        print(f"    {100 * w / total:5.1f}%  {cls}")
    print("  by class <- allocating project frame:")
    for (cls, site), w in by_site.most_common(top):
        print(f"    {100 * w / total:5.1f}%  {cls} <- {site}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("recording")
    p.add_argument("--frame", default="allocateReleaseTick", help="method every kept sample passes through")
    p.add_argument("--top", type=int, default=20)
    a = p.parse_args()
    cpu(a.recording, a.frame, a.top)
    allocation(a.recording, a.frame, a.top)


if __name__ == "__main__":
    main()

"""The goals of issue 3, checked against a results.json (stdlib only).

``evaluate(results)`` returns one dict per goal: ``name``, ``target`` (text),
``measured`` (text), ``value``, ``limit``, ``status`` (``met`` / ``missed`` /
``not measured``, or ``info``) and ``margin`` (text: how far inside or outside the
target). Benchmarks make no assertions; this is where their figures meet the goals.

The goals are judged on the default /dev/shm figures. Lines with status ``info``
(``informational: true``) are not goals: they apply a goal's target to the data path's
second pass on a tmpfs with transparent huge pages (``huge=within_size``), for comparison.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional

MIB = 1024 * 1024
GIB = 1024 * MIB


def _get(data: Any, *path: Any) -> Any:
    for key in path:
        if data is None:
            return None
        if isinstance(key, int):
            data = data[key] if isinstance(data, list) and len(data) > key else None
        else:
            data = data.get(key) if isinstance(data, dict) else None
    return data


def _size(entries: Optional[List[Dict[str, Any]]], size: int) -> Optional[Dict[str, Any]]:
    """The entry of a list of per-size results whose size_bytes is `size`."""
    for entry in entries or []:
        if entry.get("size_bytes") == size:
            return entry
    return None


def _goal(name: str, target: str, value: Optional[float], limit: float, *,
          at_most: bool, unit: str = "", note: str = "") -> Dict[str, Any]:
    """A goal `value <= limit` (at_most) or `value >= limit`."""
    if value is None:
        return {"name": name, "target": target, "measured": "—", "value": None,
                "limit": limit, "status": "not measured", "margin": note or "—"}
    met = value <= limit if at_most else value >= limit
    if limit == 0 or value == 0:
        margin = "—"
    elif at_most:
        margin = (f"{(1 - value / limit) * 100:.0f}% under the limit" if met
                  else f"{(value / limit - 1) * 100:.0f}% over the limit ({value / limit:.2f}x)")
    else:
        margin = (f"{(value / limit - 1) * 100:.0f}% above the floor" if met
                  else f"{(1 - value / limit) * 100:.0f}% short ({limit / value:.2f}x needed)")
    if note:
        margin += f"; {note}"
    return {"name": name, "target": target, "measured": f"{value:g}{unit}", "value": value,
            "limit": limit, "status": "met" if met else "missed", "margin": margin}


def evaluate(results: Dict[str, Any]) -> List[Dict[str, Any]]:
    """Every goal of issue 3 with its status."""
    cp = results.get("control_path") or {}
    goals = []

    goals.append(_goal(
        "Control-path p50, node / Erlang baseline (1 caller)", "ratio ≤ 1.0",
        _get(cp, "single", "ratio_p50"), 1.0, at_most=True, unit="x"))

    p50, p99 = _get(cp, "single", "node", "p50_us"), _get(cp, "single", "node", "p99_us")
    goals.append(_goal(
        "Control-path p99 / p50 of the node (1 caller)", "≤ 2.0",
        round(p99 / p50, 3) if p50 and p99 else None, 2.0, at_most=True, unit="x",
        note=f"p50 {p50} µs, p99 {p99} µs" if p50 and p99 else ""))

    goals.append(_goal(
        "16-caller throughput, node / Erlang baseline", "ratio ≥ 1.0",
        _get(cp, "concurrent", "ratio_throughput"), 1.0, at_most=False, unit="x"))

    batch_node = _get(cp, "batch", "node") or {}
    goals.append(_goal(
        "Batch of 100: cost per region (p50 of allocate_many+release_many / 100)", "≤ 5 µs",
        batch_node.get("per_region_p50_us") if batch_node.get("supported") else None, 5.0,
        at_most=True, unit=" µs",
        note="" if batch_node.get("supported") or not cp else "batch calls not supported by the node"))

    d64 = _size(_get(results, "data_path", "sizes"), 64 * MIB)
    goals.append(_goal(
        "64 MiB BEAM → Python shm handoff / one memcpy", "≤ 1.6x",
        _get(d64, "beam_to_python", "ratio_handoff_to_memcpy"), 1.6, at_most=True, unit="x",
        note=(f"handoff {_get(d64, 'beam_to_python', 'handoff_ms')} ms, memcpy "
              f"{_get(d64, 'memcpy_ms')} ms" if d64 else "")))
    goals.append(_goal(
        "64 MiB Port pipe / shm handoff (BEAM → Python)", "≥ 20x",
        _get(d64, "beam_to_python", "ratio_pipe_to_handoff"), 20.0, at_most=False, unit="x",
        note=(f"pipe {_get(d64, 'beam_to_python', 'pipe_ms')} ms" if d64 else "")))

    goals += _huge_page_lines(results)

    m1g = _size(_get(results, "map_attach", "python", "sizes"), GIB)
    goals.append(_goal(
        "1 GiB region mapped and touched from Python (first and last byte), median",
        "< 1000 µs", _get(m1g, "first_last_median_us"), 1000.0, at_most=True, unit=" µs",
        note=(f"touching every page: {_get(m1g, 'every_page_median_us')} µs" if m1g else "")))

    sweep = _get(results, "scale", "stale_sweep") or {}
    segments = sweep.get("segments")
    value = sweep.get("logged_ms") if sweep.get("logged_ms") is not None else sweep.get(
        "start_to_empty_ms")
    note = ""
    if sweep and not sweep.get("implemented"):
        value, note = None, "stale sweep not implemented by the node"
    elif segments is not None and segments < 10_000:
        note = f"measured with {segments} segments (--quick), not 10k"
    elif sweep.get("logged_ms") is None and value is not None:
        note = "from node launch to empty directory (JVM start included)"
    goals.append(_goal("Stale sweep of 10k segments", "< 2000 ms", value, 2000.0,
                       at_most=True, unit=" ms", note=note))
    return goals


def _info(goal: Dict[str, Any]) -> Dict[str, Any]:
    """A goal's line turned into information: status ``info``, margin says what the
    status would be."""
    if goal["status"] in ("met", "missed"):
        goal["margin"] = f"would be {goal['status']}: {goal['margin']}"
    goal.update(status="info", informational=True)
    return goal


def _huge_page_lines(results: Dict[str, Any]) -> List[Dict[str, Any]]:
    """The two 64 MiB data-path goals applied to the huge-page pass, as information."""
    dp = results.get("data_path")
    thp = _get(dp, "huge_pages") or {}
    t64 = _size(thp.get("sizes"), 64 * MIB) if thp.get("measured") else None
    if dp is None:
        note = ""
    elif not thp:
        note = "huge pages: not measured by this version of data_path.exs"
    elif not thp.get("measured"):
        note = f"huge pages: not measured: {thp.get('reason')}"
    elif t64 is None or t64.get("skipped"):
        note = f"huge pages: 64 MiB {(t64 or {}).get('skipped') or 'not measured'}"
    else:
        note = ""
    if note:
        t64 = None
    d64 = _size(_get(dp, "sizes"), 64 * MIB)
    where = "with huge=within_size tmpfs"
    return [
        _info(_goal(
            f"64 MiB BEAM → Python shm handoff / one memcpy, {where} (information)", "≤ 1.6x",
            _get(t64, "beam_to_python", "ratio_handoff_to_memcpy"), 1.6, at_most=True, unit="x",
            note=note or (f"handoff {_get(t64, 'beam_to_python', 'handoff_ms')} ms, memcpy "
                          f"{_get(d64, 'memcpy_ms')} ms"))),
        _info(_goal(
            f"64 MiB Port pipe / shm handoff (BEAM → Python), {where} (information)", "≥ 20x",
            _get(t64, "beam_to_python", "ratio_pipe_to_handoff"), 20.0, at_most=False, unit="x",
            note=note or f"pipe {_get(d64, 'beam_to_python', 'pipe_ms')} ms")),
    ]


def summary_lines(goals: List[Dict[str, Any]]) -> List[str]:
    """One plain-text line per goal, for the console."""
    width = max(len(g["name"]) for g in goals)
    return [f"{g['status']:>12}  {g['name']:<{width}}  {g['measured']:>12}  "
            f"(target {g['target']}; {g['margin']})" for g in goals]


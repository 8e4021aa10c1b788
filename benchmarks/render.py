#!/usr/bin/env python3
"""Turn a benchmark run's ``results.json`` into a report (stdlib only).

    render.py OUT/results.json            # OUT/report.md and OUT/latency.svg
    render.py OUT/results.json --publish  # also BENCHMARKS.md's results section and
                                          # docs/bench/latency.svg in the repository
    render.py OUT/results.json --summary  # print the goals of issue 3, one a line

The results section of BENCHMARKS.md lies between the lines ``<!-- results:begin``
and ``<!-- results:end -->``; everything else in that file (how to rerun, what each
benchmark measures, the Findings) is left as it is.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any, Dict, Iterable, List, Optional, Sequence

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from goals import evaluate, summary_lines  # noqa: E402
from svg_plot import latency_svg  # noqa: E402

BEGIN = "<!-- results:begin"
END = "<!-- results:end -->"
KIB, MIB, GIB = 1024, 1024 ** 2, 1024 ** 3


# --- formatting -------------------------------------------------------------------------

def num(value: Optional[float], unit: str = "") -> str:
    """A number with 3 significant digits or so, and its unit; '—' when absent."""
    if value is None:
        return "—"
    if abs(value) >= 100:
        text = f"{value:,.0f}"
    elif abs(value) >= 10:
        text = f"{value:.1f}"
    else:
        text = f"{value:.2f}"
    return f"{text} {unit}".strip() if unit not in ("x",) else f"{text}x"


def size_label(size: int) -> str:
    if size >= GIB and size % GIB == 0:
        return f"{size // GIB} GiB"
    if size >= MIB and size % MIB == 0:
        return f"{size // MIB} MiB"
    return f"{size // KIB} KiB"


def table(headers: Sequence[str], rows: Iterable[Sequence[str]], numeric: bool = True,
          left: int = 1) -> List[str]:
    """A markdown table; columns after the first `left` are right-aligned when `numeric`."""
    align = "---:" if numeric else "---"
    lines = ["| " + " | ".join(headers) + " |",
             "|" + "|".join("---" if i < left else align for i in range(len(headers))) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines + [""]


def get(data: Any, *path: Any) -> Any:
    for key in path:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


# --- sections ---------------------------------------------------------------------------

def header_section(results: Dict[str, Any]) -> List[str]:
    run, m = results.get("run", {}), results.get("machine", {})
    mem = m.get("memory_bytes")
    shm = m.get("shm_bytes")
    lines = [
        f"Command: `{run.get('command', 'scripts/bench.sh')}` (mode **{run.get('mode')}**), "
        f"started {run.get('started')}, took {run.get('duration_s')} s, "
        f"commit `{m.get('git_commit')}`, raw results in `benchmarks/out/{run.get('id')}/`.",
        "",
    ]
    if run.get("failed"):
        lines += [f"**Parts that failed in this run:** {', '.join(run['failed'])} "
                  "(their figures are missing below).", ""]
    load = m.get("load_average")
    load_end = m.get("load_average_end")
    lines += table(["machine", ""], [
        ["CPU", f"{m.get('cpu_model')}, {m.get('cores')} cores"],
        ["memory", f"{mem / GIB:.1f} GiB" if mem else "—"],
        ["/dev/shm", f"{shm / GIB:.1f} GiB tmpfs" if shm else "—"],
        ["kernel", f"{m.get('kernel')} ({m.get('os')})"],
        ["load average (1, 5, 15 min) at start / end",
         " / ".join(" ".join(f"{x:.2f}" for x in la) for la in (load, load_end) if la)
         if load else "—"],
        ["Erlang/OTP", f"{m.get('otp')} (ERTS {m.get('erts')})"],
        ["Elixir", str(m.get("elixir"))],
        ["Java", str(m.get("java"))],
        ["Python", f"{m.get('python')}, numpy {m.get('numpy')}"],
    ], numeric=False)
    return lines


def goals_section(results: Dict[str, Any]) -> List[str]:
    goals = results.get("goals") or evaluate(results)
    mark = {"met": "✅ met", "missed": "❌ missed", "not measured": "— not measured",
            "info": "ℹ️ information"}
    return ["### Goals of issue 3", ""] + table(
        ["goal", "target", "measured", "status", "by how much"],
        ([g["name"], g["target"], g["measured"], mark.get(g["status"], g["status"]), g["margin"]]
         for g in goals), numeric=False)


def control_section(cp: Optional[Dict[str, Any]]) -> List[str]:
    lines = ["### a. Control path: allocate + release pairs (4 KiB regions)", ""]
    if not cp:
        return lines + ["Not run.", ""]
    single, conc, batch = cp.get("single", {}), cp.get("concurrent", {}), cp.get("batch", {})
    callers = conc.get("callers", 16)
    rows = []
    for name, part in ((f"1 caller, {get(single, 'node', 'count')} pairs", single),
                       (f"{callers} callers, {get(conc, 'node', 'count')} pairs", conc)):
        rows.append([name, num(get(part, "node", "p50_us")), num(get(part, "node", "p99_us")),
                     num(get(part, "erlang", "p50_us")), num(get(part, "erlang", "p99_us")),
                     num(part.get("ratio_p50"), "x"), num(part.get("ratio_p99"), "x")])
    bn, be = batch.get("node") or {}, batch.get("erlang") or {}
    size = batch.get("batch_size", 100)
    if bn.get("supported"):
        rows.append([f"batch of {size} (one allocate_many + one release_many), {bn.get('count')} batches",
                     num(bn.get("p50_us")), num(bn.get("p99_us")), num(be.get("p50_us")),
                     num(be.get("p99_us")), num(batch.get("ratio_p50"), "x"),
                     num(bn["p99_us"] / be["p99_us"] if be.get("p99_us") else None, "x")])
        rows.append([f"batch of {size}, per region", num(bn.get("per_region_p50_us")),
                     num(bn.get("per_region_p99_us")), num(be.get("per_region_p50_us")),
                     num(be.get("per_region_p99_us")), num(batch.get("ratio_p50"), "x"), ""])
    else:
        rows.append([f"batch of {size}", "not supported by this node", "",
                     num(be.get("p50_us")), num(be.get("p99_us")), "", ""])
    lines += table(["scenario", "node p50 µs", "node p99 µs", "Erlang p50 µs", "Erlang p99 µs",
                    "p50 node/Erlang", "p99 node/Erlang"], rows)
    lines += table([f"{callers} concurrent callers", "node", "Erlang baseline", "node/Erlang"], [[
        "throughput, pairs/s", num(get(conc, "node", "throughput_pairs_per_s")),
        num(get(conc, "erlang", "throughput_pairs_per_s")), num(conc.get("ratio_throughput"), "x")]])
    return lines


SHM, THP = "/dev/shm", "huge=within_size"


def _baseline(value: Optional[float], unit: str = "", again: bool = False) -> str:
    """A baseline figure; in italics on a huge-page row, where it is the same figure
    (measured once) repeated to show what the ratio divides by."""
    text = num(value, unit)
    return f"*{text}*" if again and text != "—" else text


def _data_rows(dp: Dict[str, Any]) -> List[tuple]:
    """(size entry, row label, figures, is the huge-page row) for every table row: each
    size on /dev/shm, then on the huge-page tmpfs when that pass was measured."""
    thp = dp.get("huge_pages") or {}
    by_size = {t["size_bytes"]: t for t in thp.get("sizes") or []} if thp.get("measured") else {}
    rows = []
    for s in dp.get("sizes", []):
        rows.append((s, SHM, s, False))
        if s["size_bytes"] in by_size:
            rows.append((s, THP, by_size[s["size_bytes"]], True))
    return rows


def _pipe_cell(s: Dict[str, Any], direction: str, again: bool) -> str:
    pipe = get(s, direction, "pipe_ms")
    return _baseline(pipe, again=again) if pipe is not None else (s.get("pipe_note") or "—")


def _check_cell_pages(c: Dict[str, Any]) -> str:
    if c.get("python_pages_sampled") is None:
        return "—"
    if c["python_pages_sampled"] > 0:
        return f"{c['python_pages_in_thp']} of {c['python_pages_sampled']}"
    return "— (PFNs hidden: needs root)"


def _check_cell_mib(kib: Optional[float], signed: bool = False) -> str:
    if kib is None:
        return "—"
    text = num(kib / 1024)
    return f"+{text}" if signed and kib >= 0 else text


def huge_page_lines(dp: Dict[str, Any]) -> List[str]:
    """What the huge-page pass was run on and whether huge pages were used."""
    thp = dp.get("huge_pages")
    if thp is None:
        return ["Huge pages: not measured (this run's data_path.exs has no huge-page pass).", ""]
    fpr = thp.get("free_page_reporting") or {}
    if not thp.get("measured"):
        lines = [f"Huge pages: not measured: {str(thp.get('reason')).rstrip('.')}."]
    else:
        lines = [f"Huge pages: the second node served a tmpfs mounted by `scripts/bench.sh` with "
                 f"`{get(thp, 'mount', 'options')}`; {thp.get('method')}."]
    if fpr.get("virtio_balloon_reporting"):
        order = fpr.get("page_reporting_order")
        lines[-1] += (" This machine reports free memory to its host (virtio-balloon free page "
                      f"reporting{f', blocks of 2^{order} pages' if order is not None else ''}): "
                      "a 2 MiB block freed for about 2 s goes back to the host, and its next use "
                      "is as slow as a first use.")
    lines += ["", "Were huge pages used? One untimed BEAM → Python handoff per size and tmpfs: "
              "*pages in huge pages*: of one 4 KiB page per 2 MiB of the payload, those that "
              "belong to a transparent huge page (`/proc/kpageflags`); *mapped with 2 MiB "
              "pages*: `ShmemPmdMapped` of Python's mapping in `/proc/self/smaps`; "
              "*ShmemHugePages*: change in `/proc/meminfo` after allocating and after writing "
              "(system-wide, so other processes can move it).", ""]
    check_rows = []
    for s, label, fig, is_thp in _data_rows(dp):
        c = fig.get("huge_page_check") or {}
        if fig.get("skipped"):
            check_rows.append([size_label(s["size_bytes"]), label, fig["skipped"], "", "", ""])
            continue
        check_rows.append([
            size_label(s["size_bytes"]), label, _check_cell_pages(c),
            f"{_check_cell_mib(c.get('python_pmd_mapped_kib'))} of "
            f"{_check_cell_mib(c.get('python_mapping_kib'))} MiB" if c else "—",
            f"{_check_cell_mib(c.get('meminfo_shmem_huge_pages_delta_after_allocate_kib'), True)} / "
            f"{_check_cell_mib(c.get('meminfo_shmem_huge_pages_delta_after_write_kib'), True)} MiB"
            if c else "—",
            num(c.get("round_ms"))])
    lines += table(["size", "tmpfs", "pages in huge pages", "mapped with 2 MiB pages",
                    "ShmemHugePages after allocate / write", "check round ms"], check_rows, left=2)
    return lines


def data_section(dp: Optional[Dict[str, Any]]) -> List[str]:
    lines = ["### b. Data path: BEAM ↔ Python (medians)", ""]
    if not dp:
        return lines + ["Not run.", ""]
    rows = _data_rows(dp)
    thp_note = (" Each size is measured on the default `/dev/shm` and, in the rows marked "
                f"`{THP}`, on a tmpfs with transparent huge pages; the baselines are measured "
                "once, and figures in italics repeat them on the huge-page rows."
                if len(rows) > len(dp.get("sizes", [])) else "")
    lines += ["BEAM → Python. *shm handoff*: Elixir `:file.pwrite`s into a fresh region, sends "
              "the descriptor, Python attaches, views it with numpy and sums it as uint64, "
              "replies. *attach + touch only*: the same handoff of an already written region, "
              "Python reading only the first and last byte. *memcpy*: `numpy.copyto` of the "
              "same bytes into a preallocated array. *Port pipe*: the bytes as one "
              "`{:packet, 4}` message, read by Python into a preallocated buffer, same sum."
              + thp_note, ""]
    b2p_rows = []
    for s, label, fig, again in rows:
        head = [size_label(s["size_bytes"]), label, str(s["reps"]), _baseline(s.get("memcpy_ms"), again=again)]
        if fig.get("skipped"):
            b2p_rows.append(head + [fig["skipped"], "", "", "", _pipe_cell(s, "beam_to_python", again), ""])
            continue
        b2p_rows.append(head + [
            num(get(fig, "beam_to_python", "handoff_ms")),
            num(get(fig, "beam_to_python", "ratio_handoff_to_memcpy"), "x"),
            " · ".join(num(get(fig, "beam_to_python", k)) for k in
                       ("write_ms", "python_attach_ms", "python_sum_ms")),
            num(get(fig, "beam_to_python", "touch_only_ms")),
            _pipe_cell(s, "beam_to_python", again),
            num(get(fig, "beam_to_python", "ratio_pipe_to_handoff"), "x")])
    lines += table(
        ["size", "tmpfs", "reps", "memcpy ms", "shm handoff ms", "handoff / memcpy",
         "write · attach · sum ms", "attach + touch only ms", "Port pipe ms", "pipe / handoff"],
        b2p_rows, left=2)
    lines += ["Python → BEAM. *shm handoff*: Python attaches a fresh region and `numpy.copyto`s "
              "the bytes into it, replies; Elixir `:file.pread`s the region and computes "
              "`:erlang.crc32`. *Port pipe*: Python writes the bytes as one packet to stdout; "
              "Elixir receives them and computes the same crc32. `:binary.copy` of the "
              "binary in the BEAM is shown for reference.", ""]
    p2b_rows = []
    for s, label, fig, again in rows:
        head = [size_label(s["size_bytes"]), label]
        tail = [_baseline(s.get("binary_copy_ms"), again=again)]
        if fig.get("skipped"):
            p2b_rows.append(head + [fig["skipped"], "", _pipe_cell(s, "python_to_beam", again), "", ""] + tail)
            continue
        p2b_rows.append(head + [
            num(get(fig, "python_to_beam", "handoff_ms")),
            " · ".join(num(get(fig, "python_to_beam", k)) for k in
                       ("python_fill_ms", "pread_ms", "crc_ms")),
            _pipe_cell(s, "python_to_beam", again),
            num(get(fig, "python_to_beam", "ratio_pipe_to_handoff"), "x"),
            num(get(fig, "python_to_beam", "ratio_handoff_to_memcpy"), "x")] + tail)
    lines += table(
        ["size", "tmpfs", "shm handoff ms", "fill · pread · crc32 ms", "Port pipe ms",
         "pipe / handoff", "handoff / memcpy", ":binary.copy ms"], p2b_rows, left=2)
    lines += huge_page_lines(dp)
    return lines


def map_section(ma: Optional[Dict[str, Any]]) -> List[str]:
    lines = ["### c. Map/attach time (medians, µs)", ""]
    if not ma:
        return lines + ["Not run.", ""]
    py = {s["size_bytes"]: s for s in get(ma, "python", "sizes") or []}
    java = {s["size_bytes"]: s for s in get(ma, "java", "sizes") or []}
    lines += ["Python: `snakepit_shm.attach(descriptor)` + numpy view + read of the first and "
              "last byte; *every page*: then one byte of every 4 KiB page. Java: the node's "
              "`LinuxPlatform` open + mmap + close, then the same reads. Each repetition maps "
              "afresh (munmap between, not timed).", ""]
    lines += table(
        ["size", "Python first/last byte", "Python every page", "Java first/last byte",
         "Java every page"],
        ([size_label(size), num(get(py, size, "first_last_median_us")),
          num(get(py, size, "every_page_median_us")), num(get(java, size, "first_last_median_us")),
          num(get(java, size, "every_page_median_us"))] for size in sorted(set(py) | set(java))))
    return lines


def scale_section(sc: Optional[Dict[str, Any]]) -> List[str]:
    lines = ["### d. Scale", ""]
    if not sc:
        return lines + ["Not run.", ""]
    pts = sc.get("live_regions") or []
    if pts:
        first = pts[0]["live_regions"]
        lines += [f"Allocate + release pair (4 KiB, 1 caller) with regions of "
                  f"{get(sc, 'params', 'live_region_bytes')} bytes already live, held by one "
                  "process.", ""]
        lines += table(
            ["live regions", "pairs", "p50 µs", "p99 µs", "p99.9 µs", "max µs",
             f"p50 vs {first:,}", f"p99 vs {first:,}", "fill time ms (method)"],
            ([f"{p['live_regions']:,}", str(p["count"]), num(p["p50_us"]), num(p["p99_us"]),
              num(p["p999_us"]), num(p["max_us"]), num(p.get("ratio_p50_to_first"), "x"),
              num(p.get("ratio_p99_to_first"), "x"), f"{num(p.get('fill_ms'))} ({p.get('fill_with')})"]
             for p in pts))
    sw = sc.get("stale_sweep")
    if sw:
        lines += ["Stale sweep: a node creates one segment file per region, is killed with "
                  "SIGKILL, and a new node starts on the same directory.", ""]
        lines += table(
            ["stale segment files", "sweep time reported by the node", "launch → directory empty",
             "launch → ready", "reclaimed"],
            [[str(sw.get("stale_files")),
              f"{num(sw.get('logged_ms'))} ms" if sw.get("implemented") else "not implemented",
              f"{num(sw.get('start_to_empty_ms'))} ms", f"{num(sw.get('ready_ms'))} ms",
              str(sw.get("logged_reclaimed"))]])
    return lines


def results_section(results: Dict[str, Any], svg_path: str, source: str) -> str:
    lines = [f"{BEGIN} (generated by benchmarks/render.py from {source}; "
             "edit the text outside this block, not inside) -->", "", "## Results", ""]
    lines += header_section(results)
    lines += goals_section(results)
    lines += control_section(results.get("control_path"))
    lines += [f"![Latency percentile distributions]({svg_path})", ""]
    lines += data_section(results.get("data_path"))
    lines += map_section(results.get("map_attach"))
    lines += scale_section(results.get("scale"))
    lines.append(END)
    return "\n".join(lines) + "\n"


def replace_section(document: str, section: str, path: str) -> str:
    start, end = document.find(BEGIN), document.find(END)
    if start < 0 or end < start:
        raise SystemExit(f"render.py: {path} has no '{BEGIN} ... {END}' block; add those two "
                         "lines where the results belong")
    return document[:start] + section + document[end + len(END) + 1:]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results")
    parser.add_argument("--publish", action="store_true",
                        help="update BENCHMARKS.md and docs/bench/latency.svg in the repository")
    parser.add_argument("--summary", action="store_true", help="print the goals, one a line")
    parser.add_argument("--root", default=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    args = parser.parse_args()

    with open(args.results, encoding="utf-8") as f:
        results = json.load(f)
    results["goals"] = evaluate(results)
    out_dir = os.path.dirname(os.path.abspath(args.results))
    svg = latency_svg(results)
    with open(os.path.join(out_dir, "latency.svg"), "w", encoding="utf-8") as f:
        f.write(svg)
    source = os.path.relpath(os.path.abspath(args.results), args.root)
    with open(os.path.join(out_dir, "report.md"), "w", encoding="utf-8") as f:
        f.write(results_section(results, "latency.svg", source))

    if args.publish:
        os.makedirs(os.path.join(args.root, "docs", "bench"), exist_ok=True)
        with open(os.path.join(args.root, "docs", "bench", "latency.svg"), "w", encoding="utf-8") as f:
            f.write(svg)
        md_path = os.path.join(args.root, "BENCHMARKS.md")
        with open(md_path, encoding="utf-8") as f:
            document = f.read()
        section = results_section(results, "docs/bench/latency.svg", source)
        with open(md_path, "w", encoding="utf-8") as f:
            f.write(replace_section(document, section, md_path))

    if args.summary:
        print("\n".join(summary_lines(results["goals"])))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Hand-written SVG of latency percentile distributions (stdlib only, no plotting library).

``latency_svg(results)`` draws four panels in the style of HdrHistogram's percentile
plots: x is the percentile on a log scale of 1/(1-p) (0%, 90%, 99%, 99.9%, 99.99%),
y is the latency in microseconds on a log scale (1-2-5 ticks). Panels: allocate+release
pairs with 1 caller and with 16 callers (node vs Erlang baseline), batches of 100, and
the node with 1k/10k/100k live regions. The 100% point (the maximum) is drawn at the
rank of the last sample.
"""

from __future__ import annotations

import math
from typing import Any, Dict, List, Optional, Sequence, Tuple
from xml.sax.saxutils import escape

PANEL_W, PANEL_H = 560, 400
LEGEND_LINES = 3
MARGIN_L, MARGIN_R, MARGIN_B = 72, 30, 56
MARGIN_T = 40 + 17 * LEGEND_LINES + 8  # title, then the legend above the plot
HEADER_H, FOOTER_H = 54, 30
NODE_COLOR, ERLANG_COLOR = "#c0392b", "#2471a3"
SCALE_COLORS = ("#1e8449", "#d68910", "#7d3c98", "#5d6d7e")
FONT = 'font-family="DejaVu Sans, Helvetica, Arial, sans-serif"'

Series = Dict[str, Any]  # {"label", "color", "dash", "summary"}


def _fmt_us(v: float) -> str:
    """A latency with about 3 significant digits: 95.2 µs, 186 µs, 1.25 ms, 13.4 ms."""
    if v >= 1000:
        ms = v / 1000
        return f"{ms:.3g} ms" if ms < 100 else f"{ms:.0f} ms"
    return f"{v:.3g} µs" if v < 100 else f"{v:.0f} µs"


def _pct_label(decade: int) -> str:
    if decade == 0:
        return "0%"
    return f"{100 - 100 / 10 ** decade:.{max(decade - 2, 0)}f}%"


def _nice_ticks(lo: float, hi: float) -> List[float]:
    """1-2-5 ticks covering [lo, hi] on a log scale."""
    ticks = []
    for exp in range(math.floor(math.log10(lo)) - 1, math.ceil(math.log10(hi)) + 1):
        for m in (1, 2, 5):
            ticks.append(m * 10.0 ** exp)
    below = [t for t in ticks if t <= lo]
    above = [t for t in ticks if t >= hi]
    start, end = (below[-1] if below else ticks[0]), (above[0] if above else ticks[-1])
    return [t for t in ticks if start <= t <= end]


def _points(summary: Dict[str, Any]) -> List[Tuple[float, float]]:
    """(log10(1/(1-p)), value µs) for each point of a distribution."""
    count = max(int(summary.get("count") or 1), 1)
    pts = []
    for p, value in summary.get("distribution") or []:
        inverse = count if p >= 100 else min(1 / (1 - p / 100), count)
        pts.append((math.log10(inverse), max(float(value), 0.01)))
    return pts


def _panel(x0: float, y0: float, title: str, series: Sequence[Series]) -> List[str]:
    out = [f'<g transform="translate({x0},{y0})">',
           f'<text x="{PANEL_W / 2}" y="20" text-anchor="middle" font-size="15" '
           f'font-weight="bold" {FONT}>{escape(title)}</text>']
    plot_w = PANEL_W - MARGIN_L - MARGIN_R
    plot_h = PANEL_H - MARGIN_T - MARGIN_B
    usable = [s for s in series if s["summary"] and s["summary"].get("distribution")]
    out.append(f'<rect x="{MARGIN_L}" y="{MARGIN_T}" width="{plot_w}" height="{plot_h}" '
               'fill="#ffffff" stroke="#888888"/>')
    if not usable:
        out.append(f'<text x="{MARGIN_L + plot_w / 2}" y="{MARGIN_T + plot_h / 2}" '
                   f'text-anchor="middle" font-size="13" fill="#666666" {FONT}>'
                   'not measured in this run</text></g>')
        return out

    all_pts = [_points(s["summary"]) for s in usable]
    x_max = max(2, math.ceil(max(pt[0] for pts in all_pts for pt in pts)))
    values = [pt[1] for pts in all_pts for pt in pts]
    y_ticks = _nice_ticks(min(values), max(values))
    y_lo, y_hi = math.log10(y_ticks[0]), math.log10(y_ticks[-1])

    def sx(x: float) -> float:
        return MARGIN_L + x / x_max * plot_w

    def sy(v: float) -> float:
        return MARGIN_T + plot_h - (math.log10(v) - y_lo) / (y_hi - y_lo or 1) * plot_h

    for decade in range(x_max + 1):  # x grid and labels
        x = sx(decade)
        out.append(f'<line x1="{x:.1f}" y1="{MARGIN_T}" x2="{x:.1f}" y2="{MARGIN_T + plot_h}" '
                   'stroke="#dddddd"/>')
        out.append(f'<text x="{x:.1f}" y="{MARGIN_T + plot_h + 17}" text-anchor="middle" '
                   f'font-size="11" {FONT}>{_pct_label(decade)}</text>')
    for tick in y_ticks:  # y grid and labels
        y = sy(tick)
        out.append(f'<line x1="{MARGIN_L}" y1="{y:.1f}" x2="{MARGIN_L + plot_w}" y2="{y:.1f}" '
                   'stroke="#eeeeee"/>')
        out.append(f'<text x="{MARGIN_L - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11" '
                   f'{FONT}>{escape(_fmt_us(tick))}</text>')
    out.append(f'<text x="{MARGIN_L + plot_w / 2}" y="{PANEL_H - 14}" text-anchor="middle" '
               f'font-size="12" {FONT}>percentile (log scale of 1/(1−p))</text>')
    out.append(f'<text transform="translate(16,{MARGIN_T + plot_h / 2}) rotate(-90)" '
               f'text-anchor="middle" font-size="12" {FONT}>latency (log scale)</text>')

    for s, pts in zip(usable, all_pts):
        path = " ".join(f"{sx(x):.1f},{sy(v):.1f}" for x, v in pts)
        dash = ' stroke-dasharray="6,3"' if s.get("dash") else ""
        out.append(f'<polyline points="{path}" fill="none" stroke="{s["color"]}" '
                   f'stroke-width="2"{dash}/>')

    for i, s in enumerate(usable):  # legend, between the title and the plot
        summary = s["summary"]
        ly = 40 + i * 17
        lx = MARGIN_L
        dash = ' stroke-dasharray="6,3"' if s.get("dash") else ""
        label = (f'{s["label"]}: p50 {_fmt_us(summary["p50_us"])}, '
                 f'p99 {_fmt_us(summary["p99_us"])}, max {_fmt_us(summary["max_us"])}, '
                 f'n={summary["count"]:,}')
        out.append(f'<line x1="{lx}" y1="{ly - 4}" x2="{lx + 26}" y2="{ly - 4}" '
                   f'stroke="{s["color"]}" stroke-width="2.5"{dash}/>')
        out.append(f'<text x="{lx + 32}" y="{ly}" font-size="12" {FONT}>{escape(label)}</text>')
    out.append("</g>")
    return out


def _node_vs_erlang(part: Optional[Dict[str, Any]]) -> List[Series]:
    part = part or {}
    node = part.get("node") if (part.get("node") or {}).get("supported", True) else None
    return [{"label": "snakepit-shm node", "color": NODE_COLOR, "summary": node},
            {"label": "Erlang baseline", "color": ERLANG_COLOR, "dash": True,
             "summary": part.get("erlang")}]


def latency_svg(results: Dict[str, Any]) -> str:
    """The whole picture as an SVG document."""
    cp = results.get("control_path") or {}
    callers = (cp.get("concurrent") or {}).get("callers", 16)
    batch = (cp.get("batch") or {}).get("batch_size", 100)
    scale = [{"label": f'{pt["live_regions"]:,} live regions', "summary": pt,
              "color": SCALE_COLORS[i % len(SCALE_COLORS)]}
             for i, pt in enumerate((results.get("scale") or {}).get("live_regions") or [])]
    panels = [
        ("Allocate + release pair, 1 caller", _node_vs_erlang(cp.get("single"))),
        (f"Allocate + release pair, {callers} concurrent callers",
         _node_vs_erlang(cp.get("concurrent"))),
        (f"Batch of {batch}: allocate_many + release_many", _node_vs_erlang(cp.get("batch"))),
        ("Pair latency of the node with live regions (1 caller)", scale),
    ]
    width = 2 * PANEL_W + 20
    height = HEADER_H + 2 * PANEL_H + FOOTER_H
    run = results.get("run") or {}
    machine = results.get("machine") or {}
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}">',
           f'<rect width="{width}" height="{height}" fill="#fafafa"/>',
           f'<text x="{width / 2}" y="24" text-anchor="middle" font-size="18" font-weight="bold" '
           f'{FONT}>snakepit-shm control-path latency, percentile distributions</text>',
           f'<text x="{width / 2}" y="44" text-anchor="middle" font-size="12" fill="#444444" '
           f'{FONT}>{escape(_subtitle(run, machine))}</text>']
    for i, (title, series) in enumerate(panels):
        out += _panel(10 + (i % 2) * (PANEL_W + 0), HEADER_H + (i // 2) * PANEL_H, title, series)
    out.append(f'<text x="{width / 2}" y="{height - 10}" text-anchor="middle" font-size="11" '
               f'fill="#666666" {FONT}>Latency measured client-side in Elixir around two '
               'GenServer.calls; exact percentiles from sorted samples. Generated by '
               'benchmarks/render.py.</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def _subtitle(run: Dict[str, Any], machine: Dict[str, Any]) -> str:
    parts = [f'run {run.get("id", "?")} ({run.get("mode", "?")})',
             str(machine.get("cpu_model") or "unknown CPU"),
             f'{machine.get("cores", "?")} cores',
             f'OTP {machine.get("otp", "?")}', f'{machine.get("java", "?")}']
    return " · ".join(parts)

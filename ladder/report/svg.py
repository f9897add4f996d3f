"""Inline SVG plots drawn by hand (no JavaScript, no CDN): a report or a dashboard pastes the string.

    scatter([Point(0.01, 0.8, 0.7, 0.9, "zero-shot / smollm2")], x_label="$ per 1k", y_label="accuracy")
    bars([("zero-shot / smollm2", 0.12, 0.30)], x_label="seconds")
    lines([("finetune / smollm2", [(0, 2.1), (10, 1.4)])], x_label="step", y_label="loss")

Every function returns a self-contained `<svg>` element sized by its viewBox (it scales to
the width of its container) and styled by the classes at the top of `STYLE`, which a page
includes once.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

PALETTE = ["#2563eb", "#d97706", "#059669", "#dc2626", "#7c3aed", "#0891b2", "#db2777", "#65a30d"]

STYLE = """
svg.plot { width: 100%; height: auto; font: 12px system-ui, -apple-system, "Segoe UI", sans-serif; }
svg.plot .grid { stroke: #e5e7eb; stroke-width: 1; }
svg.plot .axis { stroke: #9ca3af; stroke-width: 1; }
svg.plot .tick { fill: #6b7280; }
svg.plot .title { fill: #374151; font-weight: 600; }
svg.plot .lab { fill: #111827; }
svg.plot .front { fill: none; stroke: #059669; stroke-width: 2; stroke-dasharray: 6 4; }
svg.plot .target { stroke: #dc2626; stroke-width: 1.5; stroke-dasharray: 4 4; }
svg.plot .ci { stroke-width: 2; }
"""


@dataclass
class Point:
    x: float
    y: float
    y_low: float | None = None
    y_high: float | None = None
    label: str = ""
    highlight: bool = False  # drawn larger, with a ring (the recommended row)


def nice_ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    """Round tick values covering [lo, hi].

    >>> nice_ticks(0.0, 1.0)
    [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
    >>> nice_ticks(0.42, 0.97)
    [0.4, 0.6, 0.8, 1.0]
    """
    if hi <= lo:
        hi = lo + 1
    raw = (hi - lo) / n
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    start = math.floor(lo / step + 1e-9) * step
    out, v = [], start
    while v <= hi + step * 1e-6:
        out.append(round(v, 10))
        v += step
    if out[-1] < hi:
        out.append(round(out[-1] + step, 10))
    return out


def log_ticks(lo: float, hi: float) -> list[float]:
    """1-2-5 ticks across [lo, hi] on a log axis.

    >>> log_ticks(0.003, 0.4)
    [0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5]
    """
    out = []
    for e in range(math.floor(math.log10(lo)) - 1, math.ceil(math.log10(hi)) + 1):
        for m in (1, 2, 5):
            out.append(round(m * 10 ** e, 12))
    below = [t for t in out if t <= lo]
    above = [t for t in out if t >= hi]
    first = below[-1] if below else out[0]
    last = above[0] if above else out[-1]
    return [t for t in out if first <= t <= last]


def fmt_tick(v: float, money: bool = False) -> str:
    """A tick label.

    >>> fmt_tick(0.002, money=True), fmt_tick(0.5), fmt_tick(1500)
    ('$0.002', '0.5', '1.5k')
    """
    s = f"{v:,.0f}" if abs(v) >= 100 else f"{v:g}"
    if abs(v) >= 1000:
        s = f"{v / 1000:g}k"
    return ("$" + s) if money else s


class _Frame:
    """Plot area and the mapping from data to pixels."""

    def __init__(self, width: int, height: int, left: int = 64, right: int = 24, top: int = 28, bottom: int = 48):
        self.w, self.h = width, height
        self.x0, self.x1, self.y0, self.y1 = left, width - right, height - bottom, top

    def open(self, title: str, desc: str) -> list[str]:
        return [(f'<svg class="plot" viewBox="0 0 {self.w} {self.h}" xmlns="http://www.w3.org/2000/svg" role="img" '
                 f'aria-label="{escape(desc)}">'), f'<title>{escape(desc)}</title>',
                f'<text class="title" x="{self.x0}" y="16">{escape(title)}</text>' if title else ""]


def _scale(lo: float, hi: float, a: float, b: float, log: bool = False):
    if log:
        lo, hi = math.log10(lo), math.log10(hi)
    span = (hi - lo) or 1.0
    return lambda v: a + ((math.log10(v) if log else v) - lo) / span * (b - a)


def _axes(f: _Frame, xt: list[float], yt: list[float], X, Y, x_label: str, y_label: str, money_x: bool) -> list[str]:
    out = []
    for t in yt:
        out.append(f'<line class="grid" x1="{f.x0}" x2="{f.x1}" y1="{Y(t):.1f}" y2="{Y(t):.1f}"/>')
        out.append(f'<text class="tick" x="{f.x0 - 8}" y="{Y(t) + 4:.1f}" text-anchor="end">{fmt_tick(t)}</text>')
    for t in xt:
        out.append(f'<line class="grid" x1="{X(t):.1f}" x2="{X(t):.1f}" y1="{f.y1}" y2="{f.y0}"/>')
        out.append(f'<text class="tick" x="{X(t):.1f}" y="{f.y0 + 16}" text-anchor="middle">{fmt_tick(t, money_x)}</text>')
    out.append(f'<line class="axis" x1="{f.x0}" x2="{f.x1}" y1="{f.y0}" y2="{f.y0}"/>')
    out.append(f'<line class="axis" x1="{f.x0}" x2="{f.x0}" y1="{f.y1}" y2="{f.y0}"/>')
    out.append(f'<text class="tick" x="{(f.x0 + f.x1) / 2:.0f}" y="{f.h - 8}" text-anchor="middle">{escape(x_label)}</text>')
    out.append(f'<text class="tick" transform="translate(14 {(f.y0 + f.y1) / 2:.0f}) rotate(-90)" '
               f'text-anchor="middle">{escape(y_label)}</text>')
    return out


def scatter(points: Sequence[Point], *, x_label: str, y_label: str, log_x: bool = True, front: Sequence[int] = (),
            target: float | None = None, title: str = "", money_x: bool = True, width: int = 960,
            height: int = 440) -> str:
    """Points with vertical interval bars, a dashed line through the `front` (indices), an
    optional horizontal target line; log x by default (costs span orders of magnitude)."""
    f = _Frame(width, height)
    pts = [p for p in points if p.x is not None and (not log_x or p.x > 0)]
    if not pts:
        return f'<svg class="plot" viewBox="0 0 {width} 60"><text class="tick" x="10" y="30">no priced rows to plot</text></svg>'
    xs = [p.x for p in pts]
    ys = [v for p in pts for v in (p.y, p.y_low, p.y_high) if v is not None] + ([target] if target is not None else [])
    if log_x:
        xt = log_ticks(min(xs) / 1.3, max(xs) * 1.3)
    else:
        xt = nice_ticks(min(xs), max(xs))
    yt = nice_ticks(max(0.0, min(ys) - 0.02), min(1.0, max(ys) + 0.02) if max(ys) <= 1 else max(ys))
    X = _scale(xt[0], xt[-1], f.x0 + 8, f.x1 - 8, log_x)
    Y = _scale(yt[0], yt[-1], f.y0, f.y1)
    out = f.open(title, f"{y_label} against {x_label}") + _axes(f, xt, yt, X, Y, x_label, y_label, money_x)
    if target is not None:
        out.append(f'<line class="target" x1="{f.x0}" x2="{f.x1}" y1="{Y(target):.1f}" y2="{Y(target):.1f}"/>')
        out.append(f'<text class="tick" x="{f.x1 - 4}" y="{Y(target) - 5:.1f}" text-anchor="end" fill="#dc2626">target {target:g}</text>')
    on_front = [points[i] for i in front if points[i] in pts]
    if len(on_front) > 1:
        path = " ".join(f"{X(p.x):.1f},{Y(p.y):.1f}" for p in sorted(on_front, key=lambda p: p.x))
        out.append(f'<polyline class="front" points="{path}"/>')
    dots = [(X(p.x), Y(p.y)) for p in pts]
    placed: list[tuple[float, float, float, float]] = [(x - 9, x + 9, y - 9, y + 9) for x, y in dots]  # boxes taken
    for k, p in enumerate(pts):
        c = PALETTE[k % len(PALETTE)]
        x, y = dots[k]
        if p.y_low is not None and p.y_high is not None:
            out.append(f'<line class="ci" stroke="{c}" x1="{x:.1f}" x2="{x:.1f}" y1="{Y(p.y_low):.1f}" y2="{Y(p.y_high):.1f}"/>')
            for yy in (p.y_low, p.y_high):
                out.append(f'<line class="ci" stroke="{c}" x1="{x - 5:.1f}" x2="{x + 5:.1f}" y1="{Y(yy):.1f}" y2="{Y(yy):.1f}"/>')
        if p.highlight:
            out.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="11" fill="none" stroke="{c}" stroke-width="2"/>')
        out.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="6" fill="{c}" stroke="#fff" stroke-width="1.5">'
                   f'<title>{escape(p.label)}: {p.y:.3f} at {fmt_tick(p.x, money_x)}</title></circle>')
    for k, p in enumerate(pts):
        x, y = dots[k]
        tx, ty, anchor = _place_label(p.label, x, y, placed, f)
        out.append(f'<text class="lab" x="{tx:.1f}" y="{ty:.1f}" text-anchor="{anchor}">{escape(p.label)}</text>')
    return "\n".join(s for s in out if s) + "\n</svg>"


def _place_label(text: str, x: float, y: float, placed: list[tuple[float, float, float, float]],
                 f: _Frame) -> tuple[float, float, str]:
    """The first spot beside the point (right or left, then above/below) that overlaps no label or
    point drawn so far; records the box it takes."""
    span = 6.8 * len(text)
    sides = ["start", "end"] if x < (f.x0 + f.x1) / 2 else ["end", "start"]
    for dy in (4, -12, 20, -28, 36, -44, 52):
        for anchor in sides:
            tx = x + 14 if anchor == "start" else x - 14
            a, b = (tx, tx + span) if anchor == "start" else (tx - span, tx)
            top, bot = y + dy - 11, y + dy + 3
            if a < f.x0 or b > f.x1 or top < f.y1:
                continue
            if not any(a < pb and pa < b and top < pbot and ptop < bot for pa, pb, ptop, pbot in placed):
                placed.append((a, b, top, bot))
                return tx, y + dy, anchor
    return x + 14, y + 4, "start"


def _value(v: float) -> str:
    """A bar's value label.

    >>> _value(1934.8), _value(12.34), _value(0.0123)
    ('1,935', '12.3', '0.0123')
    """
    return f"{v:,.0f}" if abs(v) >= 100 else f"{v:.3g}"


def bars(items: Sequence[tuple[str, float, float]], *, x_label: str, names: tuple[str, str] = ("p50", "p95"),
         title: str = "", width: int = 960, bar: int = 14) -> str:
    """Horizontal paired bars per item (e.g. latency p50 and p95 per row)."""
    left = min(320, 16 + 7 * max((len(n) for n, _, _ in items), default=10))
    height = 56 + len(items) * (2 * bar + 14) + 24
    f = _Frame(width, height, left=left, top=36, bottom=40)
    top = max((max(a, b) for _, a, b in items), default=1.0) or 1.0
    xt = nice_ticks(0.0, top)
    X = _scale(0.0, xt[-1], f.x0, f.x1)
    out = f.open(title, f"{names[0]} and {names[1]} {x_label} per row")
    for t in xt:
        out.append(f'<line class="grid" x1="{X(t):.1f}" x2="{X(t):.1f}" y1="{f.y1}" y2="{f.y0}"/>')
        out.append(f'<text class="tick" x="{X(t):.1f}" y="{f.y0 + 16}" text-anchor="middle">{fmt_tick(t)}</text>')
    out.append(f'<text class="tick" x="{(f.x0 + f.x1) / 2:.0f}" y="{height - 6}" text-anchor="middle">{escape(x_label)}</text>')
    for j, (nm, c) in enumerate(zip(names, ("#2563eb", "#93c5fd"))):
        out.append(f'<rect x="{f.x1 - 150 + j * 75}" y="{f.y1 - 24}" width="12" height="12" fill="{c}"/>'
                   f'<text class="tick" x="{f.x1 - 134 + j * 75}" y="{f.y1 - 14}">{nm}</text>')
    y = f.y1 + 6
    for name, a, b in items:
        out.append(f'<text class="lab" x="{f.x0 - 8}" y="{y + bar + 4}" text-anchor="end">{escape(name)}</text>')
        for k, (v, c) in enumerate(((a, "#2563eb"), (b, "#93c5fd"))):
            yy = y + k * bar
            out.append(f'<rect x="{f.x0}" y="{yy}" width="{max(1.0, X(v) - f.x0):.1f}" height="{bar - 2}" fill="{c}" rx="2">'
                       f'<title>{escape(name)} {names[k]}: {v:.3g}</title></rect>')
            out.append(f'<text class="tick" x="{X(v) + 4:.1f}" y="{yy + bar - 4}">{_value(v)}</text>')
        y += 2 * bar + 14
    out.append(f'<line class="axis" x1="{f.x0}" x2="{f.x0}" y1="{f.y1}" y2="{f.y0}"/>')
    return "\n".join(s for s in out if s) + "\n</svg>"


def lines(series: Sequence[tuple[str, Sequence[tuple[float, float]]]], *, x_label: str, y_label: str,
          title: str = "", width: int = 960, height: int = 340) -> str:
    """One polyline per series (e.g. a training loss curve per fine-tuned row)."""
    f = _Frame(width, height)
    allp = [p for _, s in series for p in s]
    if not allp:
        return ""
    xt = nice_ticks(min(p[0] for p in allp), max(p[0] for p in allp))
    yt = nice_ticks(min(p[1] for p in allp), max(p[1] for p in allp))
    X = _scale(xt[0], xt[-1], f.x0, f.x1)
    Y = _scale(yt[0], yt[-1], f.y0, f.y1)
    out = f.open(title, f"{y_label} against {x_label}") + _axes(f, xt, yt, X, Y, x_label, y_label, False)
    for k, (name, pts) in enumerate(series):
        c = PALETTE[k % len(PALETTE)]
        path = " ".join(f"{X(x):.1f},{Y(y):.1f}" for x, y in pts)
        out.append(f'<polyline fill="none" stroke="{c}" stroke-width="2" points="{path}"><title>{escape(name)}</title></polyline>')
        out.append(f'<text class="lab" fill="{c}" x="{f.x1 - 4}" y="{f.y1 + 14 + 16 * k}" text-anchor="end">{escape(name)}</text>')
    return "\n".join(s for s in out if s) + "\n</svg>"


def intervals(items: Sequence[tuple[str, float, float, float]], *, x_label: str, title: str = "",
              width: int = 960, row: int = 26) -> str:
    """Paired differences as points with 95% interval whiskers around a zero line, one row per item
    (label, mean, low, high): an interval that crosses zero is drawn grey, one clear of it in colour."""
    left = min(420, 16 + 7 * max((len(n) for n, _, _, _ in items), default=10))
    height = 48 + len(items) * row + 40
    f = _Frame(width, height, left=left, top=36, bottom=40)
    lo = min([0.0, *(v[2] for v in items)])
    hi = max([0.0, *(v[3] for v in items)])
    pad = (hi - lo) * 0.05 or 0.05
    xt = nice_ticks(lo - pad, hi + pad)
    X = _scale(xt[0], xt[-1], f.x0, f.x1)
    out = f.open(title, f"{x_label}: mean and 95% interval per comparison")
    for t in xt:
        out.append(f'<line class="grid" x1="{X(t):.1f}" x2="{X(t):.1f}" y1="{f.y1}" y2="{f.y0}"/>')
        out.append(f'<text class="tick" x="{X(t):.1f}" y="{f.y0 + 16}" text-anchor="middle">{fmt_tick(t)}</text>')
    out.append(f'<line class="axis" x1="{X(0):.1f}" x2="{X(0):.1f}" y1="{f.y1 - 6}" y2="{f.y0}"/>')
    out.append(f'<text class="tick" x="{(f.x0 + f.x1) / 2:.0f}" y="{height - 6}" text-anchor="middle">{escape(x_label)}</text>')
    for i, (name, mean, low, high) in enumerate(items):
        y = f.y1 + i * row + row / 2
        color = "#9ca3af" if low <= 0 <= high else (PALETTE[2] if low > 0 else PALETTE[3])
        tip = f"{name}: {mean:+.3f} [{low:+.3f}, {high:+.3f}]"
        out.append(f'<text class="lab" x="{f.x0 - 8}" y="{y + 4:.1f}" text-anchor="end">{escape(name)}</text>')
        out.append(f'<g><title>{escape(tip)}</title><line class="ci" stroke="{color}" x1="{X(low):.1f}" x2="{X(high):.1f}" '
                   f'y1="{y:.1f}" y2="{y:.1f}"/><circle cx="{X(mean):.1f}" cy="{y:.1f}" r="5" fill="{color}"/></g>')
        out.append(f'<text class="tick" x="{X(high) + 6:.1f}" y="{y + 4:.1f}">{mean:+.3f}</text>')
    return "\n".join(s for s in out if s) + "\n</svg>"

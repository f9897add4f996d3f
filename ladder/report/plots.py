"""The plots of a run, one function each, shared by the HTML report and the dashboard.

Each takes a run's data (`run.json` as `ladder.report.report_data` or the dashboard reads it)
and returns an inline `<svg>` string, or "" when the run has nothing to draw. They read
defensively: a run folder is a file on disk, not a promise.
"""
from __future__ import annotations

from typing import Any

from ladder.report.svg import Point, bars, intervals, lines, scatter


def _rows(d: dict[str, Any]) -> list[dict[str, Any]]:
    rows = d.get("rows")
    return [r for r in rows if isinstance(r, dict)] if isinstance(rows, list) else []


def _name(r: dict[str, Any]) -> str:
    return f"{r.get('rung')} / {r.get('model')}"


def _metric(d: dict[str, Any]) -> str:
    task = d.get("task") if isinstance(d.get("task"), dict) else {}
    rows = _rows(d)
    return str(task.get("metric") or (rows[0].get("metric") if rows else None) or "score")


def quality(d: dict[str, Any]) -> str:
    """Quality against amortised cost (log x), with 95% intervals, the Pareto front, the target line
    and the best row ringed."""
    rows, v = _rows(d), d.get("verdict") if isinstance(d.get("verdict"), dict) else {}
    if not rows:
        return ""
    costs = v.get("costs") if isinstance(v.get("costs"), list) and len(v["costs"]) == len(rows) else [{}] * len(rows)
    pts = [Point(c.get("amortised_per_1k", r.get("amortised_per_1k", r.get("cost_per_1k"))), r.get("score", 0.0),
                 r.get("ci_low"), r.get("ci_high"), _name(r), i == d.get("best_index"))
           for i, (r, c) in enumerate(zip(rows, costs))]
    front = [i for i in v.get("pareto") or [] if isinstance(i, int) and 0 <= i < len(rows)]
    task = d.get("task") if isinstance(d.get("task"), dict) else {}
    return scatter(pts, x_label="$ per 1,000 requests, amortised (log scale)", y_label=_metric(d), front=front,
                   target=task.get("target"), title="Quality against cost")


def latency(d: dict[str, Any]) -> str:
    rows = _rows(d)
    items = [(_name(r), (r.get("latency_p50") or 0.0) * 1000, (r.get("latency_p95") or 0.0) * 1000) for r in rows]
    return bars(items, x_label="milliseconds per request", title="Latency") if items else ""


def losses(d: dict[str, Any]) -> str:
    """Training (and dev) loss per step of every row that trained."""
    series = []
    for r in _rows(d):
        curve = [p for p in r.get("loss_curve") or [] if isinstance(p, dict)]
        for key, name in (("loss", "train"), ("dev_loss", "dev")):
            pts = [(float(p.get("step", k)), float(p[key])) for k, p in enumerate(curve)
                   if isinstance(p.get(key), (int, float))]
            if pts:
                series.append((f"{_name(r)} ({name})", pts))
    return lines(series, x_label="step", y_label="loss", title="Training loss") if series else ""


def paired(d: dict[str, Any]) -> str:
    """The verdict's paired comparisons: each difference and its 95% interval around zero."""
    v = d.get("verdict") if isinstance(d.get("verdict"), dict) else {}
    comps = [c for c in v.get("comparisons") or [] if isinstance(c, dict) and
             all(isinstance(c.get(k), (int, float)) for k in ("diff", "ci_low", "ci_high"))]
    if not comps:
        return ""
    return intervals([(f"{c.get('b')} − {c.get('a')}", c["diff"], c["ci_low"], c["ci_high"]) for c in comps],
                     x_label=f"difference in {_metric(d)} (paired, same examples)", title="Paired differences")

"""The climb report: one self-contained HTML file (inline CSS and SVG, works offline), Markdown
for a PR comment, or JSON.

    from ladder.report import report_data, write_report
    write_report(report_data(climb_result), "report.html")        # right after a climb
    write_report(report_data("runs/<id>"), "report.md")            # re-rendered from a run directory

`report_data` turns either source into one plain dict (run.json's shape plus each row's
predictions), so the two paths render the same page. The plot functions live in
`ladder.report.svg` for other pages (the dashboard) to reuse.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ladder.errors import LadderError

FORMATS = {".html": "html", ".htm": "html", ".md": "markdown", ".markdown": "markdown", ".json": "json"}


def report_data(source: Any) -> dict[str, Any]:
    """A ClimbResult, a run directory path, or an already-read run dict -> the report's data."""
    if isinstance(source, (str, Path)):
        from ladder.rundir import read_run

        return read_run(source)
    if isinstance(source, dict):
        return source
    from ladder.rundir import loss_curve

    data = source.to_dict()
    data["predictions"] = [e.rows for e in getattr(source, "evals", [])]
    for row in data["rows"]:
        curve = loss_curve(row)
        if curve:
            row["loss_curve"] = curve
    return data


def render(data: dict[str, Any], fmt: str) -> str:
    if fmt == "html":
        from ladder.report.html import render_html

        return render_html(data)
    if fmt == "markdown":
        from ladder.report.markdown import render_markdown

        return render_markdown(data)
    if fmt == "json":
        return json.dumps({k: v for k, v in data.items() if k != "predictions"}, indent=2, default=str)
    raise LadderError(f"unknown report format '{fmt}'; choose one of html, markdown, json")


def write_report(data: dict[str, Any], path: str | Path) -> Path:
    """Render by the file's extension (.html, .md, .json) and write it whole (temp file + rename)."""
    out = Path(path)
    fmt = FORMATS.get(out.suffix.lower())
    if fmt is None:
        raise LadderError(f"--report {path}: unknown extension '{out.suffix}'; use .html, .md or .json")
    text = render(data, fmt)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(f".{out.name}.tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(out)
    except OSError as e:
        raise LadderError(f"--report {path}: cannot write it ({e.strerror}); pick a writable path") from None
    return out


def best_label(data: dict[str, Any]) -> str:
    """What the best row is called: "recommended", or "best so far" when a target is set and it falls short.

    >>> best_label({"best_index": 0, "verdict": {"meets": [False]}})
    'best so far'
    >>> best_label({"best_index": 0, "verdict": {"meets": [None]}})
    'recommended'
    """
    meets = (data.get("verdict") or {}).get("meets") or []
    i = data.get("best_index")
    return "best so far" if i is not None and i < len(meets) and meets[i] is False else "recommended"


def disagreements(data: dict[str, Any], limit: int = 12) -> tuple[list[int], list[dict[str, Any]]]:
    """(row indices shown, examples) where the shown rows do not all score the same, the
    recommended row's wins and losses first. At most 4 rows: the recommended one and the
    best-scoring others."""
    rows, preds = data.get("rows", []), data.get("predictions", [])
    if len(rows) < 2 or len(preds) != len(rows) or not all(preds):
        return [], []
    best = data.get("best_index")
    best = best if isinstance(best, int) else max(range(len(rows)), key=lambda i: rows[i]["score"])
    others = sorted((i for i in range(len(rows)) if i != best), key=lambda i: -rows[i]["score"])[:3]
    shown = [best, *others]
    n = min(len(preds[i]) for i in shown)
    out = []
    for k in range(n):
        cells = [preds[i][k] for i in shown]
        scores = [c.get("score") for c in cells]
        outputs = [str(c.get("output", "")).strip() for c in cells]
        if len(set(scores)) > 1 or (None in scores and len(set(outputs)) > 1):
            gain = (scores[0] or 0) - max((s or 0) for s in scores[1:])
            out.append({"idx": cells[0].get("idx", k), "input": cells[0].get("input"), "expected": cells[0].get("expected"),
                        "cells": cells, "gain": gain})
    out.sort(key=lambda e: -abs(e["gain"]))
    return shown, out[:limit]

"""The dashboard: a static page (ladder/server/static, no CDN) and the JSON it reads.

    GET /                          the page
    GET /api/runs                  runs under --runs (newest first): id, task, created, rows, recommendation
    GET /api/runs/{id}             run.json without predictions, plus SVG plots (quality vs cost, latency)
    GET /api/runs/{id}/diff?a=0&b=1&all=false   per-example outputs of two rows (where they disagree)

Runs are the folders `ladder climb` writes (ladder.rundir); a folder that is not one is skipped.
"""

from pathlib import Path
from typing import Any

from ladder.errors import LadderError
from ladder.server.errors import APIError

STATIC = Path(__file__).parent / "static"
MAX_DIFF = 500


def list_runs(root: Path | None) -> list[dict[str, Any]]:
    import json

    out = []
    if root is None or not root.is_dir():
        return out
    for d in root.iterdir():
        f = d / "run.json"
        if not f.is_file():
            continue
        try:
            run = json.loads(f.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        task = run.get("task") or {}
        best = run.get("best") or {}
        out.append({"id": d.name, "task": task.get("name") if isinstance(task, dict) else str(task),
                    "created": run.get("created"), "rows": len(run.get("rows") or []),
                    "best": f"{best.get('rung')} / {best.get('model')}" if best else None,
                    "recommendation": run.get("recommendation")})
    return sorted(out, key=lambda r: (r["created"] or "", r["id"]), reverse=True)


def run_dir(root: Path | None, run_id: str) -> Path:
    """The run folder for `run_id`, which must be a direct child of the runs folder."""
    if root is None or not run_id or "/" in run_id or "\\" in run_id or run_id.startswith("."):
        raise APIError(404, f"no run '{run_id}'")
    d = root / run_id
    if not (d / "run.json").is_file():
        raise APIError(404, f"no run '{run_id}' under {root}")
    return d


def read(root: Path | None, run_id: str) -> dict[str, Any]:
    from ladder.rundir import read_run

    try:
        return read_run(run_dir(root, run_id))
    except LadderError as e:
        raise APIError(400, str(e)) from None


def plots(run: dict[str, Any]) -> dict[str, str]:
    """The report's SVG plots for a run (ladder.report.plots) and their CSS."""
    from ladder.report import plots as p
    from ladder.report.svg import STYLE

    return {"quality": p.quality(run), "latency": p.latency(run), "loss": p.losses(run), "paired": p.paired(run),
            "style": STYLE}


def diff(run: dict[str, Any], a: int, b: int, everything: bool) -> dict[str, Any]:
    rows, preds = run.get("rows") or [], run.get("predictions") or []
    for name, i in (("a", a), ("b", b)):
        if not 0 <= i < len(rows):
            raise APIError(400, f"'{name}' must be a row number from 0 to {len(rows) - 1}", name)
    by_idx = {p.get("idx", n): p for n, p in enumerate(preds[b])}
    out, differ = [], 0
    for n, pa in enumerate(preds[a]):
        pb = by_idx.get(pa.get("idx", n))
        if pb is None:
            continue
        disagree = pa.get("output") != pb.get("output") or pa.get("score") != pb.get("score")
        differ += disagree
        if (disagree or everything) and len(out) < MAX_DIFF:
            out.append({"idx": pa.get("idx", n), "input": pa.get("input"), "expected": pa.get("expected"),
                        "a": pa.get("output"), "a_score": pa.get("score"), "b": pb.get("output"),
                        "b_score": pb.get("score")})
    label = lambda r: f"{r.get('rung')} / {r.get('model')}"  # noqa: E731
    return {"a": label(rows[a]), "b": label(rows[b]), "compared": len(preds[a]), "disagree": differ, "examples": out}


def add_dashboard(app: Any, api: Any, served: Any) -> None:
    from fastapi.responses import FileResponse

    root = Path(served.runs_dir) if served.runs_dir else None

    @app.get("/", include_in_schema=False)
    async def page() -> Any:
        return FileResponse(STATIC / "index.html", media_type="text/html")

    @app.get("/static/{name}", include_in_schema=False)
    async def asset(name: str) -> Any:
        files = {p.name: p for p in STATIC.iterdir() if p.is_file()}
        if name not in files:
            raise APIError(404, f"no file '{name}'")
        return FileResponse(files[name])

    @api.get("/api/runs")
    async def runs() -> dict[str, Any]:
        return {"runs_dir": str(root) if root else None, "runs": list_runs(root),
                "index": served.index is not None, "program": served.name if served.program is not None else None}

    @api.get("/api/runs/{run_id}")
    async def one(run_id: str) -> dict[str, Any]:
        run = read(root, run_id)
        run.pop("predictions", None)
        return {**run, "plots": plots(run)}

    @api.get("/api/runs/{run_id}/diff")
    async def pair(run_id: str, a: int = 0, b: int = 1, all: bool = False) -> dict[str, Any]:  # noqa: A002
        return diff(read(root, run_id), a, b, all)

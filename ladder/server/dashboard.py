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
    """The report's SVG plots for a run (quality vs cost: log x, intervals, front; latency; training loss) and CSS."""
    from ladder.report.svg import STYLE, Point, bars, lines, scatter

    rows = run.get("rows") or []
    best = run.get("best_index")
    front = [i for i in ((run.get("verdict") or {}).get("pareto") or []) if isinstance(i, int) and i < len(rows)]
    pts = [Point(r.get("amortised_per_1k") if r.get("amortised_per_1k") is not None else r.get("cost_per_1k"),
                 r.get("score", 0.0), r.get("ci_low"), r.get("ci_high"), f"{r.get('rung')} / {r.get('model')}",
                 i == best) for i, r in enumerate(rows)]
    target = (run.get("task") or {}).get("target") if isinstance(run.get("task"), dict) else None
    quality = scatter(pts, x_label="$ per 1k requests (amortised)", y_label=rows[0].get("metric", "score")
                      if rows else "score", front=front, target=target, title="Quality against cost")
    latency = bars([(f"{r.get('rung')} / {r.get('model')}", r.get("latency_p50") or 0.0, r.get("latency_p95") or 0.0)
                    for r in rows], x_label="seconds per request", title="Latency") if rows else ""
    curves = [(f"{r.get('rung')} / {r.get('model')}", [(p["step"], p["loss"]) for p in r["loss_curve"]
                                                       if isinstance(p, dict) and "step" in p and "loss" in p])
              for r in rows if isinstance(r.get("loss_curve"), list)]
    loss = lines(curves, x_label="step", y_label="training loss", title="Training loss") if curves else ""
    return {"quality": quality, "latency": latency, "loss": loss, "style": STYLE}


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

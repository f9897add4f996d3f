"""Run directories: every climb leaves a plain, versioned folder behind.

    runs/20261201T031500Z-wiki-topics-3f9a1c2e/
      run.json                       "format": "ladder.run/1": task (fingerprint), rows, verdict,
                                     recommendation, skipped, not_run, model SHA-256s
      rows/<rung>--<model-slug>/
        predictions.jsonl            idx, input, expected, output, score, error, usage (one line each)
        program/                     the row's program, saved by ladder.saved.save_program
      best/                          a copy of the recommended row's program

The folder is written whole or not at all (`ladder.manifest.atomic_dir`). `read_run`
reads it back for `ladder report`, `ladder compare` and the dashboard.
"""
from __future__ import annotations

import json
import re
import shutil
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ladder.errors import LadderError

FORMAT = "ladder.run/1"
RUN_FILE = "run.json"
PREDICTIONS = "predictions.jsonl"
PRED_KEYS = ("idx", "input", "expected", "output", "score", "error", "usage")


def slug(text: str) -> str:
    """A file-name-safe version of a model or task name.

    >>> slug("openai/gpt-4o-mini"), slug("/models/My Model.gguf")
    ('openai-gpt-4o-mini', 'models-my-model-gguf')
    """
    return re.sub(r"[^a-z0-9.]+", "-", text.lower()).strip("-.").replace(".", "-") or "x"


def run_id(task_name: str, fingerprint: str, when: float | None = None) -> str:
    """UTC timestamp + task name + short task fingerprint (sorts by time).

    >>> run_id("wiki topics", "3f9a1c2e77", when=0)
    '19700101T000000Z-wiki-topics-3f9a1c2e'
    """
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(time.time() if when is None else when))
    return f"{stamp}-{slug(task_name)}-{fingerprint[:8]}"


def row_folder(row: dict[str, Any]) -> str:
    """A row's folder name: rung and model.

    >>> row_folder({"rung": "few-shot", "model": "qwen2.5-coder-0.5b"})
    'few-shot--qwen2-5-coder-0-5b'
    """
    return f"{row['rung']}--{slug(row['model'])}"


def loss_curve(row: dict[str, Any]) -> list[dict[str, Any]] | None:
    """A training row's loss curve, read from its adapter folder's loss.json when it has one."""
    adapter = (row.get("config") or {}).get("adapter")
    if not adapter:
        return None
    path = Path(adapter) / "loss.json"
    try:
        return json.loads(path.read_text(encoding="utf-8")).get("curve") or None
    except (OSError, ValueError):
        return None


def write_run(parent: str | Path, run: dict[str, Any], predictions: Sequence[Sequence[dict[str, Any]]],
              programs: Sequence[Any] = (), *, task_file: str | None = None, best: int | None = None) -> Path:
    """Write `parent/<id>/` from a climb's `run` dict (ClimbResult.to_dict()), each row's prediction
    rows and programs (None where a program cannot be saved). Returns the folder."""
    from ladder.manifest import atomic_dir

    task = run.get("task") or {}
    final = Path(parent) / run_id(task.get("name", "task"), task.get("fingerprint", "0" * 8))
    n = 1
    while final.exists():  # two climbs in the same second
        n += 1
        final = final.with_name(f"{final.name.rsplit('~', 1)[0]}~{n}")
    try:
        Path(parent).mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise LadderError(f"--runs-dir {parent}: cannot create it ({e.strerror}); pick a writable folder") from None
    doc = {"format": FORMAT, "id": final.name, "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
           **run, "task_file": str(Path(task_file).resolve()) if task_file else None,
           "models": {r["model"]: r.get("model_hash") for r in run.get("rows", [])}}
    with atomic_dir(final) as tmp:
        saved = _write_rows(tmp, doc, predictions, programs, task_file)
        if best is not None and saved.get(best):
            shutil.copytree(tmp / saved[best], tmp / "best")
            doc["best_dir"] = "best"
        (tmp / RUN_FILE).write_text(json.dumps(doc, indent=2, default=str), encoding="utf-8")
    return final


def _write_rows(tmp: Path, doc: dict[str, Any], predictions: Sequence[Sequence[dict[str, Any]]],
                programs: Sequence[Any], task_file: str | None) -> dict[int, str]:
    saved: dict[int, str] = {}
    save = _saver()
    for i, row in enumerate(doc.get("rows", [])):
        folder = tmp / "rows" / row_folder(row)
        folder.mkdir(parents=True, exist_ok=True)
        row["dir"] = f"rows/{row_folder(row)}"
        curve = loss_curve(row)
        if curve:
            row["loss_curve"] = curve
        with open(folder / PREDICTIONS, "w", encoding="utf-8") as f:
            f.writelines(json.dumps({k: p.get(k) for k in PRED_KEYS}, default=str) + "\n" for p in (predictions[i] if i < len(predictions) else []))
        program = programs[i] if i < len(programs) else None
        row["program_dir"] = None
        if program is not None and save is not None:
            try:
                save(program, folder / "program", task_file=task_file)
                row["program_dir"] = f"{row['dir']}/program"
                saved[i] = row["program_dir"]
            except LadderError as e:  # a program kind that cannot be saved yet: say so, keep the rest
                row["program_error"] = str(e)
    return saved


def _saver() -> Any:
    try:
        from ladder.saved import save_program
    except ImportError:
        return None
    return save_program


def read_run(path: str | Path) -> dict[str, Any]:
    """run.json plus each row's predictions (under "predictions", one list per row)."""
    folder = Path(path)
    file = folder / RUN_FILE
    if not file.is_file():
        raise LadderError(f"{folder}: not a run directory (no {RUN_FILE}); pass runs/<id> as written by `ladder climb`")
    try:
        doc = json.loads(file.read_text(encoding="utf-8"))
    except ValueError as e:
        raise LadderError(f"{file}: not valid JSON ({e})") from None
    if doc.get("format") != FORMAT:
        raise LadderError(f"{file}: format {doc.get('format')!r}, expected {FORMAT!r}; re-run the climb with this ladder")
    doc["path"] = str(folder)
    doc["predictions"] = [read_predictions(folder / r.get("dir", "rows/" + row_folder(r))) for r in doc.get("rows", [])]
    return doc


def read_predictions(row_dir: Path) -> list[dict[str, Any]]:
    file = Path(row_dir) / PREDICTIONS
    if not file.is_file():
        raise LadderError(f"{row_dir}: no {PREDICTIONS}; pass a run directory or one of its rows/<rung>--<model> folders")
    out = []
    with open(file, encoding="utf-8") as f:
        for line_no, line in enumerate(f, 1):
            if line.strip():
                try:
                    out.append(json.loads(line))
                except ValueError:
                    raise LadderError(f"{file}:{line_no}: not valid JSON") from None
    return out


def find_row(path: str | Path) -> tuple[dict[str, Any], list[dict[str, Any]], dict[str, Any]]:
    """(row, predictions, run) for a run directory (its recommended row) or one of its row folders."""
    p = Path(path)
    if (p / RUN_FILE).is_file():
        run = read_run(p)
        rows = run.get("rows", [])
        if not rows:
            raise LadderError(f"{p}: the run has no rows")
        i = run.get("best_index")
        i = i if isinstance(i, int) and 0 <= i < len(rows) else 0
        return rows[i], run["predictions"][i], run
    if (p / PREDICTIONS).is_file() and (p.parent.parent / RUN_FILE).is_file():
        run = read_run(p.parent.parent)
        for row, preds in zip(run["rows"], run["predictions"]):
            if row.get("dir") == f"rows/{p.name}":
                return row, preds, run
    raise LadderError(f"{p}: not a run directory or a rows/<rung>--<model> folder inside one")


def list_runs(parent: str | Path = "runs") -> list[dict[str, Any]]:
    """One summary per run directory under `parent`, newest first (for a dashboard or a listing);
    folders that are not runs (or are half-written) are left out."""
    out = []
    for folder in sorted(Path(parent).glob("*/" + RUN_FILE), reverse=True):
        try:
            doc = json.loads(folder.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if doc.get("format") != FORMAT:
            continue
        rows, best = doc.get("rows", []), doc.get("best_index")
        out.append({"id": doc.get("id", folder.parent.name), "path": str(folder.parent), "created": doc.get("created"),
                    "task": (doc.get("task") or {}).get("name"), "rows": len(rows),
                    "best": rows[best] if isinstance(best, int) and 0 <= best < len(rows) else None,
                    "headline": (doc.get("verdict") or {}).get("headline") or doc.get("recommendation")})
    return out


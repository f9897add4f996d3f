"""The run store: one SQLite file with the call cache, runs and per-example predictions.

- Every model call is cached by (model fingerprint, messages, parameters), so an
  identical second climb costs almost nothing.
- Every prediction is committed as it is made, so an interrupted run (Ctrl-C,
  kill -9) loses nothing finished and the same command resumes.

Schema changes are append-only migrations (PRAGMA user_version counts them).
"""
from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

from ladder.models.base import Completion, Message, Model

MIGRATIONS = [
    """CREATE TABLE calls (key TEXT PRIMARY KEY, model TEXT NOT NULL, completion TEXT NOT NULL, created REAL NOT NULL);
       CREATE TABLE runs (run_key TEXT PRIMARY KEY, task TEXT, task_fp TEXT, rung TEXT, model TEXT, model_fp TEXT,
                          config TEXT, n INTEGER, status TEXT, created REAL, result TEXT);
       CREATE TABLE predictions (run_key TEXT NOT NULL, idx INTEGER NOT NULL, output TEXT, score REAL,
                                 usage TEXT, error TEXT, PRIMARY KEY (run_key, idx));""",
]


def default_db() -> Path:
    from ladder.home import ladder_home

    return ladder_home() / "runs.db"


def digest(*parts: Any) -> str:
    blob = json.dumps(parts, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


class Store:
    def __init__(self, path: str | Path | None = None):
        self.path = Path(path) if path else default_db()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(self.path, check_same_thread=False, timeout=30)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.lock = threading.Lock()
        version = self.db.execute("PRAGMA user_version").fetchone()[0]
        for i, sql in enumerate(MIGRATIONS[version:], version + 1):
            self.db.executescript(sql)
            self.db.execute(f"PRAGMA user_version = {i}")
        self.db.commit()

    # -- call cache -------------------------------------------------------
    def get_call(self, key: str) -> Completion | None:
        with self.lock:
            row = self.db.execute("SELECT completion FROM calls WHERE key = ?", (key,)).fetchone()
        return Completion.from_dict(json.loads(row[0]), cached=True) if row else None

    def put_call(self, key: str, model: str, completion: Completion) -> None:
        with self.lock:
            self.db.execute("INSERT OR REPLACE INTO calls VALUES (?, ?, ?, ?)",
                            (key, model, json.dumps(completion.to_dict()), time.time()))
            self.db.commit()

    # -- runs and predictions --------------------------------------------
    def start_run(self, run_key: str, **fields: Any) -> None:
        with self.lock:
            self.db.execute(
                "INSERT OR IGNORE INTO runs (run_key, task, task_fp, rung, model, model_fp, config, n, status, created)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'running', ?)",
                (run_key, fields.get("task"), fields.get("task_fp"), fields.get("rung"), fields.get("model"),
                 fields.get("model_fp"), json.dumps(fields.get("config", {}), default=str), fields.get("n"), time.time()),
            )
            self.db.commit()

    def finish_run(self, run_key: str, result: dict[str, Any]) -> None:
        with self.lock:
            self.db.execute("UPDATE runs SET status = 'done', result = ? WHERE run_key = ?",
                            (json.dumps(result, default=str), run_key))
            self.db.commit()

    def predictions(self, run_key: str) -> dict[int, dict[str, Any]]:
        with self.lock:
            rows = self.db.execute("SELECT idx, output, score, usage, error FROM predictions WHERE run_key = ?",
                                   (run_key,)).fetchall()
        return {i: {"output": o, "score": s, "usage": json.loads(u), "error": e} for i, o, s, u, e in rows}

    def put_prediction(self, run_key: str, idx: int, output: str, score: float | None,
                       usage: dict[str, Any], error: str | None = None) -> None:
        with self.lock:
            self.db.execute("INSERT OR REPLACE INTO predictions VALUES (?, ?, ?, ?, ?, ?)",
                            (run_key, idx, output, score, json.dumps(usage), error))
            self.db.commit()

    def runs(self, limit: int = 50) -> list[dict[str, Any]]:
        with self.lock:
            cur = self.db.execute("SELECT run_key, task, rung, model, status, created, result FROM runs"
                                  " ORDER BY created DESC LIMIT ?", (limit,))
            cols = [c[0] for c in cur.description]
            return [dict(zip(cols, r)) for r in cur.fetchall()]

    def close(self) -> None:
        self.db.close()


class CachedModel(Model):
    """Wraps any backend: identical calls are answered from the store."""

    def __init__(self, inner: Model, store: Store):
        self.inner, self.store = inner, store
        self.name, self.scores_choices, self.local, self.params = inner.name, inner.scores_choices, inner.local, inner.params

    @property
    def fingerprint(self) -> str:
        return self.inner.fingerprint

    def complete(self, messages: list[Message], **params: Any) -> Completion:
        key = digest(self.fingerprint, messages, params)
        hit = self.store.get_call(key)
        if hit is not None:
            return hit
        out = self.inner.complete(messages, **params)
        self.store.put_call(key, self.name, out)
        return out

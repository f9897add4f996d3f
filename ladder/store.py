"""The run store: one SQLite file with the call cache, runs and per-example predictions.

- Every model call is cached by (model fingerprint, messages, parameters), so an
  identical second climb costs almost nothing.
- Every prediction is committed as it is made, so an interrupted run (Ctrl-C,
  kill -9) loses nothing finished and the same command resumes.
- A run that fails is marked `failed` with its error (Ctrl-C: `interrupted`),
  never left `running`.
- Two processes running the same (task, rung, model) share the work: each
  claims a few examples at a time (`claim`: owner + expiry in `claims`), so
  neither computes what the other is computing. A claim whose owner died
  (same host, process gone) or whose lease expired is taken over.
- A path that is a folder, unwritable or not SQLite is an InputError naming it.

Schema changes are append-only migrations (PRAGMA user_version counts them).
"""
from __future__ import annotations

import hashlib
import json
import os
import socket
import sqlite3
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from ladder.errors import InputError
from ladder.models.base import Completion, Message, Model, WrappedModel

MIGRATIONS = [
    """CREATE TABLE calls (key TEXT PRIMARY KEY, model TEXT NOT NULL, completion TEXT NOT NULL, created REAL NOT NULL);
       CREATE TABLE runs (run_key TEXT PRIMARY KEY, task TEXT, task_fp TEXT, rung TEXT, model TEXT, model_fp TEXT,
                          config TEXT, n INTEGER, status TEXT, created REAL, result TEXT);
       CREATE TABLE predictions (run_key TEXT NOT NULL, idx INTEGER NOT NULL, output TEXT, score REAL,
                                 usage TEXT, error TEXT, PRIMARY KEY (run_key, idx));""",
    """ALTER TABLE runs ADD COLUMN error TEXT;
       CREATE TABLE claims (run_key TEXT NOT NULL, idx INTEGER NOT NULL, owner TEXT NOT NULL, expires REAL NOT NULL,
                            PRIMARY KEY (run_key, idx));""",
]
LEASE_SECONDS = 600.0  # a claim outlives any one call's deadline; a dead owner's claims are taken over at once


def default_db() -> Path:
    from ladder.home import ladder_home

    return ladder_home() / "runs.db"


def digest(*parts: Any) -> str:
    blob = json.dumps(parts, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def new_owner() -> str:
    """Who holds a claim: host, process id and a random part (one per evaluate call)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _owner_dead(owner: str) -> bool:
    """True when `owner` was a process on this host that no longer exists."""
    host, _, rest = owner.partition(":")
    pid = rest.partition(":")[0]
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False
    return False


BUSY_SECONDS = 30  # how long a writer waits for another one


def _use_wal(db: sqlite3.Connection) -> None:
    """Switch to write-ahead logging. While other connections are opening the same new file, SQLite
    answers "database is locked" at once here, without waiting its busy timeout; so wait ourselves."""
    deadline = time.monotonic() + BUSY_SECONDS
    while True:
        try:
            db.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as e:
            if "locked" not in str(e) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


class Store:
    def __init__(self, path: str | Path | None = None):
        self.path = Path(path) if path else default_db()
        where = "--db" if path else "run store"
        if self.path.is_dir():
            raise InputError(where, f"{self.path} is a folder; give a file path such as {self.path / 'runs.db'}")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(self.path, check_same_thread=False, timeout=BUSY_SECONDS)
            _use_wal(self.db)
            self.db.execute("PRAGMA synchronous=NORMAL")
            version = self._migrate()
        except (OSError, sqlite3.Error) as e:
            raise InputError(where, f"cannot use {self.path} as the run store ({e}); give a writable file path "
                             "(a new file is created) or remove a file that is not a ladder run store") from None
        if version > len(MIGRATIONS):
            raise InputError(where, f"{self.path} was written by a newer ladder (schema {version}, this one knows "
                             f"{len(MIGRATIONS)}); upgrade ladder or use another --db")
        self.lock = threading.Lock()

    def _migrate(self) -> int:
        """Apply the migrations this file lacks, in one IMMEDIATE transaction: two processes opening a new
        store at once must not both create its tables. Returns the version found."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            version = self.db.execute("PRAGMA user_version").fetchone()[0]
            for i, sql in enumerate(MIGRATIONS[version:], version + 1):
                for statement in sql.split(";"):
                    if statement.strip():
                        self.db.execute(statement)
                self.db.execute(f"PRAGMA user_version = {i}")
            self.db.commit()
        except BaseException:
            self.db.rollback()
            raise
        return version

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
        """Record a run as `running` (again, if an earlier attempt failed or was interrupted)."""
        with self.lock:
            self.db.execute(
                "INSERT INTO runs (run_key, task, task_fp, rung, model, model_fp, config, n, status, created)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'running', ?)"
                " ON CONFLICT(run_key) DO UPDATE SET status = 'running', error = NULL WHERE status != 'done'",
                (run_key, fields.get("task"), fields.get("task_fp"), fields.get("rung"), fields.get("model"),
                 fields.get("model_fp"), json.dumps(fields.get("config", {}), default=str), fields.get("n"), time.time()),
            )
            self.db.commit()

    def fail_run(self, run_key: str, error: str, status: str = "failed") -> None:
        """Mark a run `failed` (or `interrupted`) with its error; a finished run stays `done`."""
        with self.lock:
            self.db.execute("UPDATE runs SET status = ?, error = ? WHERE run_key = ? AND status != 'done'",
                            (status, error[:2000], run_key))
            self.db.commit()

    def run_status(self, run_key: str) -> tuple[str, str | None] | None:
        """(status, error) of a run, or None if it was never started."""
        with self.lock:
            row = self.db.execute("SELECT status, error FROM runs WHERE run_key = ?", (run_key,)).fetchone()
        return (row[0], row[1]) if row else None

    # -- claims: two processes on one run share the work ------------------
    def claim(self, run_key: str, wanted: list[int], owner: str, n: int,
              lease: float = LEASE_SECONDS) -> list[int]:
        """Claim up to `n` of the `wanted` examples that have no prediction and no live claim by another owner.

        Atomic across processes (one IMMEDIATE transaction). Returns the claimed indices, in order.
        """
        now = time.time()
        with self.lock:
            try:
                self.db.execute("BEGIN IMMEDIATE")
                done = {i for (i,) in self.db.execute("SELECT idx FROM predictions WHERE run_key = ?", (run_key,))}
                held = {}
                for i, who, expires in self.db.execute("SELECT idx, owner, expires FROM claims WHERE run_key = ?",
                                                       (run_key,)):
                    held[i] = (who, expires)
                dead: dict[str, bool] = {}
                picked = []
                for i in wanted:
                    if i in done:
                        continue
                    if i in held and held[i][0] != owner and held[i][1] > now:
                        who = held[i][0]
                        if who not in dead:
                            dead[who] = _owner_dead(who)
                        if not dead[who]:
                            continue
                    picked.append(i)
                    if len(picked) == n:
                        break
                self.db.executemany("INSERT OR REPLACE INTO claims VALUES (?, ?, ?, ?)",
                                    [(run_key, i, owner, now + lease) for i in picked])
                self.db.commit()
            except BaseException:
                self.db.rollback()
                raise
        return picked

    def release(self, run_key: str, owner: str) -> None:
        """Drop `owner`'s claims on a run (its predictions are in; or it stopped)."""
        with self.lock:
            self.db.execute("DELETE FROM claims WHERE run_key = ? AND owner = ?", (run_key, owner))
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
            self.db.execute("DELETE FROM claims WHERE run_key = ? AND idx = ?", (run_key, idx))
            self.db.commit()

    def runs(self, limit: int = 50) -> list[dict[str, Any]]:
        with self.lock:
            cur = self.db.execute("SELECT run_key, task, rung, model, status, created, result, error FROM runs"
                                  " ORDER BY created DESC LIMIT ?", (limit,))
            cols = [c[0] for c in cur.description]
            return [dict(zip(cols, r)) for r in cur.fetchall()]

    def close(self) -> None:
        self.db.close()


class CachedModel(WrappedModel):
    """Wraps any backend: identical calls are answered from the store."""

    def __init__(self, inner: Model, store: Store):
        super().__init__(inner)
        self.store = store

    def complete(self, messages: list[Message], **params: Any) -> Completion:
        on_text = params.pop("on_text", None)  # how the answer is delivered is not part of the call's identity
        key = digest(self.fingerprint, messages, params)
        hit = self.store.get_call(key)
        if hit is not None:
            if on_text is not None:
                on_text(hit.text)
            return hit
        out = self.inner.complete(messages, **params, **({"on_text": on_text} if on_text else {}))
        self.store.put_call(key, self.name, out)
        return out

"""The run store: a failed run is marked failed, two runs on one (task, rung, model) share the work,
and a --db that cannot be a run store is one InputError naming it."""
import os
import sqlite3
import threading

import pytest

from ladder.advisor import run_rung
from ladder.errors import InputError, TaskError
from ladder.evaluation import evaluate
from ladder.models.base import Completion, Usage
from ladder.store import Store, new_owner
from ladder.task import load_task
from ladder.testing import DummyModel


def test_a_folder_as_db_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match=r"--db: .* is a folder"):
        Store(tmp_path)


def test_a_non_sqlite_file_as_db_is_an_input_error(tmp_path):
    bad = tmp_path / "notes.txt"
    bad.write_text("hello, this is not a database\n" * 100)
    with pytest.raises(InputError, match="cannot use .*notes.txt as the run store"):
        Store(bad)
    assert bad.read_text().startswith("hello")  # untouched


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_an_unwritable_db_path_is_an_input_error(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        with pytest.raises(InputError, match="--db"):
            Store(ro / "sub" / "runs.db")
    finally:
        ro.chmod(0o700)


def test_many_openers_of_a_new_store_migrate_it_once(tmp_path):
    """Six threads open the same new file at once, 40 times over: the race ("database is locked" from
    the switch to WAL) lost 12 of 150 such trials before the fix, and this test failed 2 runs in 3."""
    from ladder.store import MIGRATIONS

    errors = []

    def open_store(path):
        try:
            Store(path).close()
        except Exception as e:  # the test reports any failure below
            errors.append(e)

    for trial in range(40):
        path = tmp_path / f"new{trial}.db"
        threads = [threading.Thread(target=open_store, args=(path,)) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert not errors
        assert sqlite3.connect(path).execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)


def test_an_old_store_is_migrated_in_place(tmp_path):
    path = tmp_path / "old.db"
    db = sqlite3.connect(path)
    from ladder.store import MIGRATIONS

    db.executescript(MIGRATIONS[0])
    db.execute("PRAGMA user_version = 1")
    db.execute("INSERT INTO runs (run_key, status) VALUES ('k', 'running')")
    db.commit()
    db.close()
    s = Store(path)
    s.fail_run("k", "boom")
    assert s.run_status("k") == ("failed", "boom")


def broken_metric(pred, ref):
    if pred == "negative":
        raise ZeroDivisionError("no")
    return 1.0


def test_a_metric_failing_mid_run_marks_the_run_failed_with_its_error(sentiment_task, tmp_path, monkeypatch):
    import tests.reliability.test_store as me

    task = load_task(sentiment_task)
    task.metric = f"{me.__name__}:broken_metric"  # passes on the train example, fails on a test answer
    model = DummyModel(default="negative")
    monkeypatch.setattr("ladder.advisor.load_model", lambda spec, **kw: model)
    store = Store(tmp_path / "r.db")
    with pytest.raises(TaskError, match="failed on test example 1 .ZeroDivisionError"):
        run_rung(task, "zero-shot", "dummy", store=store)
    (run,) = store.runs()
    assert run["status"] == "failed" and "ZeroDivisionError" in run["error"]
    model.default = "positive"  # fixed: the same run starts again and finishes
    model.queue.clear()
    monkeypatch.setattr("tests.reliability.test_store.broken_metric", lambda p, r: 1.0)
    run_rung(task, "zero-shot", "dummy", store=store)
    assert store.runs()[0]["status"] == "done" and store.runs()[0]["error"] is None


def test_ctrl_c_marks_the_run_interrupted(sentiment_task, tmp_path, monkeypatch):
    task = load_task(sentiment_task)

    def stop(messages):
        raise KeyboardInterrupt

    monkeypatch.setattr("ladder.advisor.load_model", lambda spec, **kw: DummyModel(respond=stop))
    store = Store(tmp_path / "r.db")
    with pytest.raises(KeyboardInterrupt):
        run_rung(task, "zero-shot", "dummy", store=store)
    assert store.runs()[0]["status"] == "interrupted"


def program_for(calls, started, other_started):
    """Computes an example; its first call waits (up to 5 s) until the other run has started computing too,
    so the test does not depend on thread scheduling."""
    def program(ex):
        calls.append(ex["i"])
        started.set()
        other_started.wait(5)
        return Completion(str(ex["i"]), Usage(1, 1, 0.01, 0.01))
    return program


def test_two_concurrent_runs_share_the_work_and_both_finish(tmp_path):
    examples = [{"i": i} for i in range(60)]
    a_calls, b_calls = [], []
    a_started, b_started = threading.Event(), threading.Event()
    stores = [Store(tmp_path / "r.db"), Store(tmp_path / "r.db")]  # one connection each, like two processes
    results = {}

    def run(name, store, program):
        results[name] = evaluate(program, examples, "exact_match", expected=lambda ex: str(ex["i"]),
                                 store=store, run_key="same-run")

    threads = [threading.Thread(target=run, args=("a", stores[0], program_for(a_calls, a_started, b_started))),
               threading.Thread(target=run, args=("b", stores[1], program_for(b_calls, b_started, a_started)))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert set(a_calls) | set(b_calls) == set(range(60))
    assert not set(a_calls) & set(b_calls)  # nothing computed twice
    assert a_calls and b_calls  # both did some of it
    for r in results.values():
        assert r.n == 60 and r.score == 1.0 and [row["output"] for row in r.rows] == [str(i) for i in range(60)]


def test_a_dead_owners_claims_are_taken_over_at_once(tmp_path):
    store = Store(tmp_path / "r.db")
    import socket

    dead = f"{socket.gethostname()}:{2**22 + 12345}:abcd"  # a pid above pid_max: never alive
    assert store.claim("k", [0, 1, 2], dead, 3) == [0, 1, 2]
    assert store.claim("k", [0, 1, 2], new_owner(), 3) == [0, 1, 2]


def test_a_live_owners_claims_are_respected_until_they_expire(tmp_path):
    store = Store(tmp_path / "r.db")
    me, other = new_owner(), new_owner()  # same live process
    assert store.claim("k", [0, 1, 2], me, 2) == [0, 1]
    assert store.claim("k", [0, 1, 2], other, 5) == [2]
    assert store.claim("k", [0, 1], other, 5, lease=0) == []
    assert store.claim("k", [0, 1, 2, 3], new_owner(), 5, lease=-1) == [3]
    store.put_prediction("k", 0, "x", 1.0, {})
    store.release("k", me)
    assert store.claim("k", [0, 1], other, 5) == [1]


WORKER = """
import json, sys, time
from pathlib import Path
from ladder.evaluation import evaluate
from ladder.models.base import Completion, Usage
from ladder.store import Store

db, me, other = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
store = Store(db)
me.touch()
while not other.exists():  # start together
    time.sleep(0.01)
done = []

def program(ex):
    done.append(ex["i"])
    time.sleep(0.02)
    return Completion(str(ex["i"]), Usage(1, 1, 0.02, 0.02))

res = evaluate(program, [{"i": i} for i in range(80)], "exact_match", expected=lambda ex: str(ex["i"]),
               store=store, run_key="shared")
print(json.dumps({"computed": done, "n": res.n, "score": res.score}))
"""


@pytest.mark.integration  # starts two processes
def test_two_processes_on_one_run_share_the_work(tmp_path):
    import json
    import subprocess
    import sys

    db, a, b = tmp_path / "r.db", tmp_path / "a.ready", tmp_path / "b.ready"
    # no store yet: both processes create it at once (they must not both run the migrations)
    procs = [subprocess.Popen([sys.executable, "-c", WORKER, str(db), str(x), str(y)], stdout=subprocess.PIPE, text=True)
             for x, y in ((a, b), (b, a))]
    outs = [json.loads(p.communicate(timeout=120)[0]) for p in procs]
    first, second = (set(o["computed"]) for o in outs)
    assert first | second == set(range(80)) and not first & second and first and second
    assert all(o["n"] == 80 and o["score"] == 1.0 for o in outs)

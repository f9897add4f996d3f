"""Run directories: a climb leaves runs/<id>/ with run.json, per-row predictions and programs, best/."""
import doctest
import json

import pytest

from ladder import rundir
from ladder.advisor import climb
from ladder.errors import LadderError
from ladder.rundir import FORMAT, find_row, list_runs, read_run, write_run
from ladder.store import Store
from ladder.task import load_task
from tests.test_climb import models  # noqa: F401 (fixture: DummyModels behind load_model)


def test_doctests():
    assert doctest.testmod(rundir).failed == 0


def test_a_climb_writes_its_run_directory(sentiment_task, tmp_path, models):  # noqa: F811
    task = load_task(sentiment_task)
    res = climb(task, ["goodmodel", "bad"], ["zero-shot", "few-shot"], store=Store(tmp_path / "r.db"),
                all_rows=True, runs_dir=tmp_path / "runs", task_file=str(sentiment_task))
    run_dir = tmp_path / "runs" / res.run_dir.split("/")[-1]
    assert run_dir.is_dir() and run_dir.name.endswith("-sentiment-" + task.fingerprint()[:8])
    doc = json.loads((run_dir / "run.json").read_text())
    assert doc["format"] == FORMAT and doc["task"]["fingerprint"] == task.fingerprint()
    assert [r["dir"] for r in doc["rows"]] == ["rows/zero-shot--bad", "rows/zero-shot--goodmodel",
                                              "rows/few-shot--bad", "rows/few-shot--goodmodel"]
    assert doc["verdict"]["best"] == res.best_index and doc["recommendation"] == res.recommendation
    assert set(doc["models"]) == {"goodmodel", "bad"}
    lines = (run_dir / "rows/zero-shot--goodmodel/predictions.jsonl").read_text().splitlines()
    first = json.loads(lines[0])
    assert len(lines) == 4 and set(first) == {"idx", "input", "expected", "output", "score", "error", "usage"}
    assert [json.loads(x)["score"] for x in lines] == [r["score"] for r in res.evals[1].rows]
    back = read_run(run_dir)
    assert back["predictions"][1] == [json.loads(x) for x in lines]
    row, preds, _ = find_row(run_dir / "rows/few-shot--bad")
    assert row["rung"] == "few-shot" and row["model"] == "bad" and len(preds) == 4
    best_row, _, _ = find_row(run_dir)
    assert best_row["model"] == res.best.model
    best_src = run_dir / doc["rows"][res.best_index]["program_dir"]  # ladder.saved wrote each row's program
    assert sorted(p.name for p in (run_dir / "best").iterdir()) == sorted(p.name for p in best_src.iterdir())
    assert not list((tmp_path / "runs").glob(".tmp-*"))  # written atomically: nothing half-done left
    (tmp_path / "runs" / "not-a-run").mkdir()
    listed = list_runs(tmp_path / "runs")
    assert [r["id"] for r in listed] == [run_dir.name] and listed[0]["best"]["model"] == res.best.model
    assert listed[0]["headline"] == res.verdict["headline"]


def test_budget_stops_between_rows_and_says_what_was_not_run(sentiment_task, tmp_path, models):  # noqa: F811
    task = load_task(sentiment_task)
    res = climb(task, ["goodmodel", "bad"], ["zero-shot", "few-shot"], store=Store(tmp_path / "r.db"),
                all_rows=True, budget_minutes=0)
    assert res.rows == [] and len(res.not_run) == 4
    assert res.not_run[0]["why"].startswith("budget: 0.0 of 0 minutes")
    res = climb(task, ["goodmodel", "bad"], ["zero-shot", "few-shot"], store=Store(tmp_path / "r.db"),
                all_rows=True, budget_usd=1e-12)  # the first row spends more than that
    assert len(res.rows) == 1 and [(n["rung"], n["model"]) for n in res.not_run] == [
        ("zero-shot", "goodmodel"), ("few-shot", "bad"), ("few-shot", "goodmodel")]
    assert res.to_dict()["not_run"] == res.not_run


def test_read_run_refuses_what_is_not_a_run(tmp_path):
    with pytest.raises(LadderError, match="not a run directory"):
        read_run(tmp_path)
    (tmp_path / "run.json").write_text('{"format": "other/9"}')
    with pytest.raises(LadderError, match="ladder.run/1"):
        read_run(tmp_path)
    with pytest.raises(LadderError, match="not a run directory or a rows"):
        find_row(tmp_path / "nowhere")


def test_two_runs_in_the_same_second_do_not_collide(tmp_path):
    run = {"task": {"name": "t", "fingerprint": "abcdef0123"}, "rows": []}
    a, b = write_run(tmp_path, run, []), write_run(tmp_path, run, [])
    assert a != b and (a / "run.json").is_file() and (b / "run.json").is_file()

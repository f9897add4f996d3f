"""CI gating: `ladder check` fails a deliberately worse program, passes a good one; `ladder compare`
pairs two runs example by example; JUnit XML has one test case per check."""
import json
import xml.etree.ElementTree as ET

import pytest
from click.testing import CliRunner

from ladder import advisor as climb_mod
from ladder.advisor import climb
from ladder.cli import cli
from ladder.errors import LadderError
from ladder.gate import check, compare, junit_xml
from ladder.saved import load
from ladder.store import Store
from ladder.task import load_task
from ladder.testing import DummyModel
from tests.conftest import write_label_task

POS = ["lovely", "wonderful", "great", "brilliant", "joyful"]
NEG = ["awful", "terrible", "dull", "rude", "painful"]


def reads(msgs):
    return "positive" if any(w in msgs[-1]["content"].lower() for w in POS) else "negative"


@pytest.fixture
def task_file(tmp_path):
    """40 test examples: enough for a paired test to see a model that is right only half the time."""
    rows = [{"text": f"a {w} thing, number {i}", "label": "positive"} for i in range(10) for w in POS[:3]] + \
           [{"text": f"a {w} thing, number {i}", "label": "negative"} for i in range(10) for w in NEG[:3]]
    return write_label_task(tmp_path, rows[20:30] + rows[50:60], rows[0:20] + rows[30:50], name="sent",
                            instruction="Classify the sentiment.", target=0.8)


@pytest.fixture
def doubles(monkeypatch):
    made = {"good": DummyModel(name="good", respond=reads), "lazy": DummyModel(name="lazy", default="negative")}
    monkeypatch.setattr(climb_mod, "load_model", lambda spec, **kw: made[spec])
    monkeypatch.setattr(climb_mod, "model_size", lambda spec: {"lazy": 1, "good": 2}[spec])
    return made


def test_a_worse_program_fails_the_check_and_a_good_one_passes(task_file, tmp_path, doubles):
    task = load_task(task_file)
    run = climb(task, ["lazy", "good"], ["zero-shot"], store=Store(tmp_path / "r.db"), all_rows=True,
                runs_dir=tmp_path / "runs", task_file=str(task_file))
    assert run.best.model == "good"
    best = load(f"{run.run_dir}/best", model=doubles["good"])
    ok = check(task, best, baseline=run.run_dir)
    assert ok.passed and [c.name for c in ok.checks] == ["target", "baseline", "errors"]
    worse = load(f"{run.run_dir}/rows/zero-shot--lazy/program", model=doubles["lazy"])
    bad = check(task, worse, baseline=run.run_dir)
    assert not bad.passed
    by = {c.name: c for c in bad.checks}
    assert not by["target"].passed and "< target 0.8" in by["target"].message
    assert not by["baseline"].passed and "significantly worse" in by["baseline"].message
    assert by["baseline"].data["a_wins"] == 20 and by["baseline"].data["p_value"] < 0.001
    xml = ET.fromstring(junit_xml(bad))
    suite = xml.find("testsuite")
    assert suite.get("tests") == "3" and suite.get("failures") == "2"
    assert [tc.get("name") for tc in suite.iter("testcase") if tc.find("failure") is not None] == ["target", "baseline"]


def test_check_refuses_a_baseline_on_other_examples(task_file, tmp_path, doubles):
    task = load_task(task_file)
    run = climb(task, ["good"], ["zero-shot"], store=Store(tmp_path / "r.db"), runs_dir=tmp_path / "runs", limit=10)
    best = load(f"{run.run_dir}/best", model=doubles["good"])
    with pytest.raises(LadderError, match="same test sample"):
        check(task, best, baseline=run.run_dir, limit=20)


def test_compare_two_runs_and_its_cli(task_file, tmp_path, doubles):
    task = load_task(task_file)
    a = climb(task, ["lazy"], ["zero-shot"], store=Store(tmp_path / "r.db"), runs_dir=tmp_path / "runs").run_dir
    b = climb(task, ["good"], ["zero-shot"], store=Store(tmp_path / "r.db"), runs_dir=tmp_path / "runs").run_dir
    d = compare(a, b)
    assert d["test"]["diff"] == pytest.approx(0.5) and d["test"]["method"] == "mcnemar" and d["test"]["significant"]
    assert d["gained"] == 20 and d["lost"] == 0 and len(d["changed"]) == 20
    assert all(c["expected"] == "positive" for c in d["changed"])
    out = CliRunner().invoke(cli, ["compare", a, b, "--json"])
    assert out.exit_code == 0 and json.loads(out.output)["gained"] == 20
    out = CliRunner().invoke(cli, ["compare", a, b])
    assert "20 examples gained, 0 lost" in out.output and "A real difference." in out.output


def test_report_command_rerenders_a_run(task_file, tmp_path, doubles):
    task = load_task(task_file)
    run = climb(task, ["lazy", "good"], ["zero-shot"], store=Store(tmp_path / "r.db"), all_rows=True,
                runs_dir=tmp_path / "runs")
    out = CliRunner().invoke(cli, ["report", run.run_dir, "-o", str(tmp_path / "r.html")])
    assert out.exit_code == 0, out.output
    assert "zero-shot / good" in (tmp_path / "r.html").read_text()


def test_climb_cli_writes_run_dir_report_and_json(task_file, tmp_path, doubles, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out = CliRunner().invoke(cli, ["climb", str(task_file), "--models", "lazy,good", "--rungs", "zero-shot", "--all",
                                   "--db", str(tmp_path / "r.db"), "--volume", "2k/day", "--meets", "mean",
                                   "--report", "rep.md", "--json"])
    assert out.exit_code == 0, out.output
    doc = json.loads(out.output[out.output.index("{"):out.output.rindex("}") + 1])
    assert doc["run_dir"].startswith("runs/") and (tmp_path / doc["run_dir"] / "run.json").is_file()
    assert doc["verdict"]["volume_per_month"] == 60_000 and doc["verdict"]["meets_by"] == "mean"
    assert (tmp_path / "rep.md").read_text().startswith("## ladder climb: sent")
    bad = CliRunner().invoke(cli, ["climb", str(task_file), "--models", "good", "--volume", "lots"])
    assert bad.exit_code != 0


def test_dry_run_estimates_without_climbing(task_file, tmp_path, doubles, monkeypatch):
    import ladder.models

    monkeypatch.setattr(ladder.models, "load_model", lambda spec, **kw: doubles[spec])
    out = CliRunner().invoke(cli, ["climb", str(task_file), "--models", "lazy,good", "--rungs", "zero-shot,few-shot",
                                   "--dry-run", "--json", "--db", str(tmp_path / "r.db"), "--runs-dir", str(tmp_path / "runs")])
    assert out.exit_code == 0, out.output
    est = json.loads(out.output)
    assert [(p["rung"], p["model"], p["calls"], p["timed_calls"]) for p in est["pairs"]] == [
        ("zero-shot", "lazy", 40, 3), ("zero-shot", "good", 40, 3), ("few-shot", "lazy", 40, 3), ("few-shot", "good", 40, 3)]
    assert est["total"]["calls"] == 160
    assert len(doubles["good"].calls) == 6 and not (tmp_path / "runs").exists()  # 3 timed calls per row, no climb


def test_estimate_doctests():
    import doctest

    import ladder.estimate

    assert doctest.testmod(ladder.estimate).failed == 0

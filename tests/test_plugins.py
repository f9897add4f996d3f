"""A plugin package (tests/plugin_example) adds a rung, a metric and a model backend without touching ladder/.

It is installed for real (pip, into a folder of its own) and used from a fresh process, through
the Python API and through the CLI.
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

PLUGIN = Path(__file__).parent / "plugin_example"
pytestmark = pytest.mark.integration  # starts pip and ladder processes


@pytest.fixture(scope="module")
def plugin_path(tmp_path_factory):
    target = tmp_path_factory.mktemp("plugin")
    build = tmp_path_factory.mktemp("plugin-src")  # build from a copy: setuptools writes into the source folder
    subprocess.run(["cp", "-r", f"{PLUGIN}/.", str(build)], check=True)
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                    "--target", str(target), str(build)], check=True, capture_output=True)
    return target


def run(args, plugin_path, cwd):
    env = {**os.environ, "PYTHONPATH": str(plugin_path)}
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


@pytest.fixture
def plugin_task(tmp_path):
    """Test reviews that share words with one train review each: the nearest rung's home ground."""
    train = [("the acting was wonderful", "positive"), ("a wonderful warm story", "positive"),
             ("the plot was dull and slow", "negative"), ("slow dull and far too long", "negative")]
    test = [("wonderful acting", "positive"), ("a warm story", "positive"), ("dull plot", "negative"),
            ("too slow", "negative")]
    for name, rows in (("train", train), ("test", test)):
        (tmp_path / f"{name}.jsonl").write_text("".join(json.dumps({"text": t, "label": y}) + "\n" for t, y in rows))
    task = tmp_path / "task.toml"
    task.write_text('name = "reviews"\ninstruction = "Classify the sentiment."\ninput = "{text}"\noutput = "label"\n'
                    'labels = ["negative", "positive"]\nmetric = "mentions"\n'
                    'train = "train.jsonl"\ntest = "test.jsonl"\n')
    return task


def test_the_api_climbs_with_a_plugin_rung_metric_and_backend(plugin_path, plugin_task, tmp_path):
    code = f"""
import json, ladder
assert "nearest" in ladder.RUNGS and "mentions" in ladder.METRICS and "canned" in ladder.MODELS
task = ladder.load_task({str(plugin_task)!r})
res = ladder.climb(task, models=["canned/negative"], rungs=["zero-shot", "nearest"], all_rows=True,
                   store=ladder.Store({str(tmp_path / 'runs.db')!r}))
print(json.dumps([[r.rung, r.metric, r.score] for r in res.rows]))
"""
    out = run([sys.executable, "-c", code], plugin_path, tmp_path)
    assert out.returncode == 0, out.stderr
    rows = json.loads(out.stdout.strip().splitlines()[-1])
    # the plugin rung is cheaper (cost_rank 5), so it is climbed first; the plugin metric scores both
    assert [r[0] for r in rows] == ["nearest", "zero-shot"]
    assert all(r[1] == "mentions" for r in rows)
    # zero-shot always says "negative": half the test set; nearest finds the matching train review
    assert rows[1][2] == pytest.approx(0.5)
    assert rows[0][2] == pytest.approx(1.0)


def test_the_cli_lists_and_checks_plugin_options(plugin_path, plugin_task, tmp_path):
    ladder = [sys.executable, "-m", "ladder"]
    out = run([*ladder, "run", str(plugin_task), "--rung", "nearest", "--model", "canned/positive",
               "--db", str(tmp_path / "runs.db"), "--json"], plugin_path, tmp_path)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["row"]["rung"] == "nearest"
    base = [*ladder, "run", str(plugin_task), "--rung", "nearest", "--model", "canned/positive",
            "--db", str(tmp_path / "runs.db")]
    ok = run([*base, "-o", "min_overlap=5", "--json"], plugin_path, tmp_path)  # a plugin's own option, typed
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["row"]["config"]["min_overlap"] == 5
    for args, message in ((["--k", "3"], "--k applies to the few-shot rung(s), and none of them runs here"),
                          (["-o", "nearest.k=3"], "rung 'nearest' has no option 'k'; its options are: min_overlap"),
                          (["-o", "min_overlap=lots"], "option 'min_overlap' must be int, not 'lots'")):
        bad = run([*base, *args], plugin_path, tmp_path)
        assert bad.returncode == 2 and "Traceback" not in bad.stderr, bad.stderr
        assert message in bad.stderr

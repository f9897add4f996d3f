"""The CLI: one clear line and exit code 2 on bad input; JSON output; fast help."""
import json
import subprocess
import sys

import pytest

from tests.conftest import write_jsonl


from ladder.testing import run_cli as ladder


@pytest.mark.integration  # a fresh interpreter, to see what `ladder --help` imports
def test_help_lists_commands_without_importing_heavy_libraries():
    out = subprocess.run([sys.executable, "-X", "importtime", "-m", "ladder", "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "climb" in out.stdout
    for heavy in ("llama_cpp", "torch", "numpy", "rich", "sentence_transformers"):
        assert f" {heavy}\n" not in out.stderr.replace("|", "\n"), heavy


@pytest.mark.parametrize("content, message", [
    ("instruction = [", "malformed TOML"),
    ('instruction = "i"\noutput = "label"\ntrain = "train.jsonl"\ntest = "nope.jsonl"\n', "nope.jsonl: test split file not found"),
    ('instruction = "i"\noutput = "label"\ntrain = "train.jsonl"\ntest = "test.jsonl"\nmetric = "f2"\n', "unknown metric 'f2'"),
])
def test_bad_task_is_one_line_exit_2(tmp_path, content, message):
    write_jsonl(tmp_path / "train.jsonl", [{"text": "a", "label": "x"}])
    write_jsonl(tmp_path / "test.jsonl", [{"text": "b", "label": "x"}])
    (tmp_path / "task.toml").write_text(content)
    r = ladder("run", str(tmp_path / "task.toml"))
    assert r.returncode == 2
    assert message in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_unknown_model_and_rung_exit_2(sentiment_task):
    r = ladder("run", str(sentiment_task), "--model", "gpt-17")
    assert r.returncode == 2 and "unknown model 'gpt-17'" in r.stderr
    r = ladder("climb", str(sentiment_task), "--models", "smollm2-135m", "--rungs", "zero-shot,telepathy")
    assert r.returncode == 2 and "unknown rung 'telepathy'" in r.stderr


def test_models_json_lists_bundled_models():
    r = ladder("models", "--json")
    names = [m["name"] for m in json.loads(r.stdout)["models"]]
    assert {"smollm2-135m", "qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b"} <= set(names)


def test_demo_writes_a_loadable_task(tmp_path):
    r = ladder("demo", "--out", str(tmp_path / "d"), "--test-size", "50")
    assert r.returncode == 0, r.stderr
    from ladder.task import load_task

    task = load_task(tmp_path / "d" / "task.toml")
    assert len(task.test) == 50 and len(task.labels) == 11
    ids = {ex["id"] for ex in task.test}
    assert not ids & {ex["id"] for ex in task.train}
    corpus = [json.loads(line) for line in open(task.corpus, encoding="utf-8")]
    assert len(corpus) > 9000 and not ids & {d["id"] for d in corpus}  # the rag/pretrain corpus holds no test article


def test_rung_flags_reach_only_their_rungs():
    from ladder.cli.common import rung_settings
    from ladder.errors import LadderError

    all_rungs = ["zero-shot", "few-shot", "rag", "finetune", "pretrain"]
    s = rung_settings(all_rungs, k=8, selector="similar", retriever="bm25", rerank="cross-encoder", passages=5,
                      train_minutes=3)
    assert s["few-shot"] == {"k": 8, "selector": "similar"}
    assert s["rag"] == {"k": 5, "method": "bm25", "rerank": "cross-encoder"}
    assert s["finetune"] == s["pretrain"] == {"max_minutes": 3}
    assert rung_settings(all_rungs)["rag"] == {}
    assert rung_settings(["zero-shot"], calibrate=False) == {"zero-shot": {"calibrate": False}}
    assert rung_settings(["finetune"], ("rank=8", "finetune.lr=0.001")) == {"finetune": {"rank": 8, "lr": 0.001}}
    with pytest.raises(LadderError, match="--passages applies to the rag rung"):
        rung_settings(["zero-shot", "few-shot"], passages=5)
    with pytest.raises(LadderError, match="no rung that runs here takes 'rank'"):
        rung_settings(["few-shot"], ("rank=8",))
    with pytest.raises(LadderError, match="write it as NAME=VALUE"):
        rung_settings(["few-shot"], ("k",))


def test_one_name_and_unit_for_time_limits():
    from ladder.cli.common import train_minutes

    assert train_minutes({"train_minutes": 2.0, "old_max_minutes": 9.0, "old_time_budget": None}) == 2.0
    assert train_minutes({"train_minutes": None, "old_max_minutes": 3.0, "old_time_budget": None}) == 3.0
    assert train_minutes({"train_minutes": None, "old_max_minutes": None, "old_time_budget": 90.0}) == 1.5
    assert train_minutes({}) is None
    for command in ("finetune", "distill", "pretrain", "train-reranker", "climb", "run"):
        shown = ladder(command, "--help").stdout
        assert "--train-minutes" in shown, command
        assert "--max-minutes" not in shown and "--time-budget" not in shown, command  # old spellings: hidden

"""`ladder pretrain` and `ladder plan-pretrain` from the shell: JSON out, one-line errors."""
import importlib.util
import json

import pytest

from ladder.testing import run_cli as ladder


def test_plan_pretrain_json_is_the_arithmetic():
    r = ladder("plan-pretrain", "--params", "7B", "--tokens", "1T", "--gpu", "h100", "--gpus", "8", "--json")
    assert r.returncode == 0, r.stderr
    p = json.loads(r.stdout)
    assert p["flops"] == pytest.approx(6 * 7e9 * 1e12)
    assert p["gpu_hours"] == pytest.approx(6 * 7e9 * 1e12 / (989e12 * 0.4) / 3600)
    assert p["days"] == pytest.approx(p["gpu_hours"] / 8 / 24)
    assert p["chinchilla_tokens"] == pytest.approx(140e9) and len(p["assumptions"]) >= 4


def test_plan_pretrain_table_prints_assumptions_and_all_gpus():
    r = ladder("plan-pretrain", "--params", "125M", "--gpu", "all", "--gpus", "1")
    assert r.returncode == 0, r.stderr
    assert "assumptions" in r.stdout and "MFU 40%" in r.stdout
    assert "h100" in r.stdout and "t4" in r.stdout


@pytest.mark.parametrize("args,message", [
    (["plan-pretrain", "--params", "7Q"], "--params: cannot read '7Q'"),
    (["plan-pretrain", "--params", "7B", "--gpu", "tpu9"], "unknown GPU 'tpu9'"),
    (["plan-pretrain", "--params", "7B", "--tokens", "lots"], "--tokens: cannot read"),
    (["pretrain", "x.jsonl", "--out", "o"], "--from BASE"),
    (["pretrain", "x.jsonl", "--scratch", "--out", "o"], "--scratch needs --params"),
    (["pretrain", "x.jsonl", "--scratch", "--params", "1M", "--from", "smollm2-135m", "--out", "o"], "exclude each other"),
    (["pretrain", "missing.jsonl", "--scratch", "--params", "1M", "--out", "o"], "missing.jsonl"),
])
def test_bad_input_is_one_line_exit_2(args, message, tmp_path):
    r = ladder(*args, cwd=tmp_path)
    assert r.returncode == 2, r.stderr
    assert message in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_pretrain_scratch_json(tmp_path, wiki_rows):
    if importlib.util.find_spec("torch") is None:
        pytest.skip("needs torch")
    corpus = tmp_path / "c.jsonl"
    corpus.write_text("".join(json.dumps(r) + "\n" for r in wiki_rows(100)))
    r = ladder("pretrain", str(corpus), "--scratch", "--params", "250k", "--vocab-size", "512", "--seq-len", "32",
               "--batch-size", "4", "--steps", "6", "--eval-tokens", "512", "--no-export", "--out", str(tmp_path / "pt"),
               "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["kind"] == "scratch" and doc["steps"] == 6 and doc["tokens_seen"] == 6 * 4 * 32
    assert doc["perplexity_after"] < doc["perplexity_before"]
    assert doc["gguf"] is None and (tmp_path / "pt" / "result.json").exists()

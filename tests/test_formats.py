"""promptfoo configs in, chat JSONL and Ollama Modelfiles out."""
import json

import pytest

from ladder.task import load_task
from ladder.testing import DummyModel, run_cli

CONFIG = """
description: capitals
prompts:
  - "What is the capital of {{ country }}? Reply in JSON {like: this}."
providers: [openai:gpt-4o-mini]
tests:
  - vars: {country: France}
    assert: [{type: equals, value: Paris}]
  - vars: {country: Japan}
    assert: [{type: icontains, value: tokyo}]
  - vars: {country: Peru}
    assert: [{type: llm-rubric, value: mentions Lima}]
  - vars: {country: Kenya}
    assert: [{type: contains, value: Nairobi}]
"""


def test_import_promptfoo_keeps_what_ladder_can_score(tmp_path):
    (tmp_path / "promptfooconfig.yaml").write_text(CONFIG)
    r = run_cli("import-promptfoo", tmp_path / "promptfooconfig.yaml", "--out", tmp_path / "task", "--json")
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout)
    assert summary["metric"] == "contains" and summary["test"] == 3 and summary["train"] == 0
    assert summary["equals_scored_as_contains"] == 1
    assert summary["skipped"] == ["test 3: assertion type llm-rubric has no ladder metric"]
    task = load_task(tmp_path / "task" / "task.toml")
    assert task.render(task.test[0]) == "What is the capital of France? Reply in JSON {like: this}."
    assert [task.expected(ex) for ex in task.test] == ["Paris", "tokyo", "Nairobi"]

    from ladder.evaluation import evaluate
    from ladder.rungs import get_rung

    model = DummyModel(respond=lambda m: "The capital is Tokyo." if "Japan" in m[-1]["content"] else "Paris")
    res = evaluate(get_rung("zero-shot")(task, model, {}), task.test, task.metric, **task.scoring())
    assert [row["score"] for row in res.rows] == [1.0, 1.0, 0.0]


def test_import_promptfoo_reads_a_csv_of_tests_and_refuses_bad_configs(tmp_path):
    (tmp_path / "tests.csv").write_text("country,__expected\nFrance,Paris\nItaly,equals:Rome\n")
    (tmp_path / "c.yaml").write_text("prompts: ['Capital of {{country}}?']\ntests: file://tests.csv\n")
    r = run_cli("import-promptfoo", tmp_path / "c.yaml", "--out", tmp_path / "t", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["metric"] == "exact_match"
    assert [load_task(tmp_path / "t" / "task.toml").expected(ex) for ex in
            load_task(tmp_path / "t" / "task.toml").test] == ["Paris", "Rome"]
    (tmp_path / "bad.yaml").write_text("prompts: ['x']\ntests:\n  - vars: {a: 1}\n    assert: [{type: javascript}]\n")
    r = run_cli("import-promptfoo", tmp_path / "bad.yaml", "--out", tmp_path / "t2")
    assert r.returncode == 2 and "no test has an equals/contains assertion" in r.stderr
    assert not (tmp_path / "t2").exists()


def test_export_chat_jsonl_uses_the_finetune_prompt(sentiment_task, tmp_path):
    r = run_cli("export", "chat", sentiment_task, "--out", tmp_path / "train.chat.jsonl")
    assert r.returncode == 0, r.stderr
    rows = [json.loads(line) for line in (tmp_path / "train.chat.jsonl").read_text().splitlines()]
    task = load_task(sentiment_task)
    assert len(rows) == len(task.train)
    system, user, assistant = rows[0]["messages"]
    # the fine-tuned model learns the labels from its answers: no "Answer with exactly one of" list
    assert system == {"role": "system", "content": "Classify the sentiment of the review."}
    assert user["content"] == task.render(task.train[0]) and assistant["content"] == task.answer(task.train[0])
    from ladder.splits import read_split

    back, _ = read_split(tmp_path / "train.chat.jsonl", "train")  # and it reads back as a chat split
    assert back[0]["input"] == user["content"] and back[0]["output"] == assistant["content"]


@pytest.mark.integration
def test_export_ollama_from_a_saved_few_shot_program(sentiment_task, tmp_path):
    import ladder
    from ladder.saved import save_program

    task = ladder.load_task(sentiment_task)
    program = ladder.RUNGS.get("few-shot").build(task, ladder.load_model("smollm2-135m"), {"k": 2})
    save_program(program, tmp_path / "prog")
    r = run_cli("export", "ollama", tmp_path / "prog", "--out", tmp_path / "ollama")
    assert r.returncode == 0, r.stderr
    text = (tmp_path / "ollama" / "Modelfile").read_text()
    assert text.startswith("FROM ./base.gguf\n") and "ADAPTER" not in text
    assert "<|im_start|>" in text and 'PARAMETER stop "<|im_end|>"' in text  # SmolLM2 speaks ChatML
    assert text.count("MESSAGE user ") == 2 and text.count("MESSAGE assistant ") == 2
    assert (tmp_path / "ollama" / "base.gguf").stat().st_size > 50_000_000

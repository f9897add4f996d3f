"""Regression tests for copies that had drifted apart (issue: one of each)."""
from types import SimpleNamespace

from ladder.models.base import Usage
from ladder.task import load_task
from ladder.testing import DummyEmbedder, DummyModel


def test_finetune_eval_scores_the_rungs_program(sentiment_task, monkeypatch):
    """`ladder finetune --eval` used to prompt with the label list the adapter never saw in training."""
    import ladder.models
    from ladder.cli.train import _score
    from ladder.prompts import system_prompt

    task = load_task(sentiment_task)
    model = DummyModel(default="positive")
    seen = []
    monkeypatch.setattr(ladder.models, "load_model", lambda spec, **kw: seen.append(kw) or model)
    scored = _score(task, "smollm2-135m", SimpleNamespace(gguf="adapter.gguf", usage=Usage()), None)
    assert seen == [{"lora_path": "adapter.gguf"}]
    system = model.calls[0]["messages"][0]["content"]
    assert system == system_prompt(task, list_labels=False)  # as in training: no "Answer with exactly one of"
    assert "exactly one of" not in system
    assert scored["n"] == len(task.test) and scored["score"] == 0.5  # "positive" for 2 positive, 2 negative


def test_a_named_index_is_not_built_twice(monkeypatch, ladder_home):
    """`ladder index wikipedia` then `ladder ask wikipedia` used to build the same corpus twice."""
    from ladder.retrieval import index as idx

    docs = [{"id": str(i), "title": f"Doc {i}", "text": f"passage number {i} about topic {i % 3}"} for i in range(6)]
    emb = DummyEmbedder()
    built = idx.build_index(iter(docs), idx.home_indexes() / "mycorpus", embedder=emb, corpus="mycorpus")
    calls = []
    monkeypatch.setattr(idx, "build_index", lambda *a, **k: calls.append(a))
    again = idx.open_index("mycorpus", embedder=emb)
    assert calls == [] and again.path == built.path
    assert idx.resolve_index("mycorpus") == built.path
    assert again.search("topic 1", k=2, method="dense")[0].text == built.search("topic 1", k=2, method="dense")[0].text

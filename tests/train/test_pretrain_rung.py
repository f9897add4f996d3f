"""The pretrain rung: corpus -> continued base -> finetune rung on top, costs added, test text kept out.

Training itself is tested in test_pretrain*.py; here the two trainings are doubles
so the composition is checked in milliseconds.
"""
import doctest
import json
from pathlib import Path

import pytest

from ladder.errors import LadderError
from ladder.models.base import Usage
from ladder.rungs import pretrain as rung
from ladder.rungs.base import Program
from ladder.task import Task
from ladder.testing import DummyModel

TEST_INPUT = "this held-out review mentions the lighthouse keeper twice"


def make_task(tmp_path: Path, corpus: bool = True) -> Task:
    docs = [{"title": f"Doc {i}", "text": f"Domain text number {i} about lighthouses and keepers."} for i in range(6)]
    docs.append({"text": f"A blog post quoting: {TEST_INPUT}. End."})  # contains a test input: must be dropped
    path = tmp_path / "corpus.jsonl"
    path.write_text("".join(json.dumps(d) + "\n" for d in docs))
    return Task(name="lights", instruction="Classify.", input="{text}", output="label",
                train=[{"text": "a keeper", "label": "yes"}], test=[{"text": TEST_INPUT, "label": "no"}],
                labels=["no", "yes"], corpus=str(path) if corpus else None)


@pytest.fixture
def doubles(monkeypatch, tmp_path):
    calls = {"pretrain": [], "finetune": []}
    monkeypatch.setenv("LADDER_HOME", str(tmp_path / "home"))  # a fresh run cache per test

    def fake_pretrain(corpus, cfg, on_step=None):
        calls["pretrain"].append((Path(corpus).read_text(), cfg))
        Path(cfg.out, "model.gguf").write_bytes(b"GGUF")
        from ladder.train.pretrain import PretrainResult

        r = PretrainResult("continued", cfg.base, 100, cfg.steps, 1000, 900, 50, 1, 30.0, 20.0, 12.0, 20.0, 6e5, 83.0,
                           0.0003, 0.05, 0, str(Path(cfg.out, "model")), str(Path(cfg.out, "model.gguf")))
        Path(cfg.out, "result.json").write_text(json.dumps(r.to_dict()))
        return r

    def fake_finetune(task, model, options):
        calls["finetune"].append((model, options))
        return Program("finetune", task, model, config={"rank": 8}, one_time=Usage(500, 0, 5.0, 9.0))

    def fake_load_model(spec, **kw):
        return DummyModel(name=Path(spec).stem)

    import ladder.models
    import ladder.rungs.finetune
    import ladder.train.pretrain

    monkeypatch.setattr(ladder.train.pretrain, "pretrain", fake_pretrain)
    monkeypatch.setattr(ladder.rungs.finetune, "compile", fake_finetune)
    monkeypatch.setattr(ladder.models, "load_model", fake_load_model)
    return calls


def test_doctests_hold():
    assert doctest.testmod(rung).failed == 0


@pytest.mark.integration
def test_rung_pretrains_then_finetunes_and_adds_both_costs(tmp_path, doubles):
    task = make_task(tmp_path)
    program = rung.compile(task, DummyModel(name="smollm2-135m"), {"pretrain_steps": 3, "epochs": 2})
    assert program.rung == "pretrain"
    assert program.one_time == Usage(1000 + 500, 0, 12.0 + 5.0, 20.0 + 9.0)
    pre = program.config["pretrain"]
    assert (pre["perplexity_before"], pre["perplexity_after"]) == (30.0, 20.0)
    assert pre["base"] == "smollm2-135m" and pre["dropped_test_docs"] == 1
    assert program.config["rank"] == 8
    (corpus_text, cfg), = doubles["pretrain"]
    assert cfg.steps == 3 and cfg.base == "smollm2-135m"
    (base, ft_options), = doubles["finetune"]
    assert ft_options == {"epochs": 2}  # pretrain_* options never reach the finetune rung
    assert base.name == "smollm2-135m-cpt"  # the continued base, named after what it is


@pytest.mark.integration
def test_test_inputs_never_reach_the_pretraining_corpus(tmp_path, doubles):
    rung.compile(make_task(tmp_path), DummyModel(name="smollm2-135m"), {})
    corpus_text, _ = doubles["pretrain"][0]
    assert TEST_INPUT not in corpus_text
    assert corpus_text.count("\n") == 6


@pytest.mark.integration
def test_a_second_compile_reuses_the_continued_base(tmp_path, doubles):
    task = make_task(tmp_path)
    first = rung.compile(task, DummyModel(name="smollm2-135m"), {"pretrain_steps": 3})
    second = rung.compile(task, DummyModel(name="smollm2-135m"), {"pretrain_steps": 3})
    assert len(doubles["pretrain"]) == 1
    assert second.one_time == first.one_time  # the reused run still reports what it cost


def test_a_task_without_corpus_is_refused(tmp_path, doubles):
    with pytest.raises(LadderError, match="needs a corpus"):
        rung.compile(make_task(tmp_path, corpus=False), DummyModel(name="smollm2-135m"), {})


def test_unknown_pretrain_option_lists_the_known_ones(tmp_path, doubles):
    with pytest.raises(LadderError, match="pretrain_stepz.*pretrain_steps"):
        rung.compile(make_task(tmp_path), DummyModel(name="smollm2-135m"), {"pretrain_stepz": 3})


def test_remote_models_cannot_be_pretrained(tmp_path, doubles):
    with pytest.raises(LadderError, match="local GGUF"):
        rung.compile(make_task(tmp_path), DummyModel(name="openai/gpt-4o-mini"), {})


@pytest.mark.integration
def test_a_climb_time_budget_bounds_both_trainings(tmp_path, doubles):
    rung.compile(make_task(tmp_path), DummyModel(name="smollm2-135m"), {"max_minutes": 2.5})
    (_, cfg), = doubles["pretrain"]
    (_, ft_options), = doubles["finetune"]
    assert cfg.max_minutes == 2.5 and ft_options == {"max_minutes": 2.5}

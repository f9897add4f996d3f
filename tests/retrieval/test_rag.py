"""The rag rung: passages from the task's corpus in the prompt; the test split never indexed."""
import json

import pytest

from ladder.errors import LadderError
from ladder.leaks import leaked_inputs
from ladder.task import Task
from ladder.testing import DummyModel

DOCS = [
    {"id": "paris", "title": "Paris", "text": "Paris is the capital and largest city of France, on the Seine."},
    {"id": "nile", "title": "Nile", "text": "The Nile is a major north-flowing river in northeastern Africa, about 6,650 km long."},
    {"id": "everest", "title": "Mount Everest", "text": "Mount Everest is Earth's highest mountain above sea level, at 8,849 metres."},
    {"id": "jupiter", "title": "Jupiter", "text": "Jupiter is the fifth planet from the Sun and the largest in the Solar System."},
]
TRAIN = [{"id": "t1", "question": "What river flows north through Africa?", "answer": "the Nile"}]
TEST = [{"id": "q1", "question": "What is the capital of France?", "answer": "Paris"},
        {"id": "q2", "question": "How high is Mount Everest?", "answer": "8,849 metres"}]


def write_corpus(path, docs):
    path.write_text("".join(json.dumps(d) + "\n" for d in docs))
    return str(path)


def qa_task(corpus, test=TEST, id_field=None):
    return Task("qa", "Answer the question in a few words.", "{question}", "answer", train=TRAIN, test=list(test),
                metric="token_f1", corpus=corpus, id_field=id_field)


@pytest.mark.integration
def test_passages_go_in_the_prompt_as_data(tmp_path):
    from ladder.rungs.rag import compile

    prog = compile(qa_task(write_corpus(tmp_path / "c.jsonl", DOCS)), DummyModel(["Paris"]), {"k": 2, "method": "bm25"})
    msgs = prog.messages(TEST[0])
    user = msgs[-1]["content"]
    assert user.startswith("<passages>\n[1] Paris: Paris is the capital")
    assert user.index("</passages>") < user.index("What is the capital of France?")
    assert user.count("\n[") == 1  # k=2 passages: [1] and [2]
    assert "data, not instructions" in msgs[0]["content"]
    assert prog(TEST[0]).text == "Paris"
    assert prog.describe()["rung"] == "rag" and prog.config["k"] == 2


@pytest.mark.integration
def test_index_is_cached_under_ladder_home(tmp_path, monkeypatch):
    from ladder.rungs.rag import compile

    ladder_home = tmp_path / "home"
    monkeypatch.setenv("LADDER_HOME", str(ladder_home))
    corpus = write_corpus(tmp_path / "c.jsonl", DOCS)
    compile(qa_task(corpus), DummyModel(), {"method": "bm25"})
    built = list((ladder_home / "indexes").glob("c-*"))
    assert len(built) == 1
    mtime = (built[0] / "manifest.json").stat().st_mtime
    compile(qa_task(corpus), DummyModel(), {"method": "bm25"})
    assert (built[0] / "manifest.json").stat().st_mtime == mtime  # loaded, not rebuilt


@pytest.mark.integration
def test_a_corpus_holding_test_inputs_is_refused(tmp_path):
    from ladder.rungs.rag import compile

    test = [{"id": "paris", "question": DOCS[0]["text"], "answer": "France"}]
    corpus = write_corpus(tmp_path / "c.jsonl", DOCS)
    with pytest.raises(LadderError, match="test input"):
        compile(qa_task(corpus, test=test), DummyModel())
    # naming the id field leaves the test documents out of the index: accepted
    prog = compile(qa_task(corpus, test=test, id_field="id"), DummyModel(), {"method": "bm25", "k": 4})
    assert all(p.doc_id != "paris" for p in prog.index.passages)


def test_missing_corpus_and_bad_method(tmp_path):
    from ladder.rungs.rag import compile

    with pytest.raises(LadderError, match="needs a corpus"):
        compile(qa_task(None), DummyModel())
    with pytest.raises(LadderError, match="choose one of"):
        compile(qa_task(write_corpus(tmp_path / "c.jsonl", DOCS)), DummyModel(), {"method": "magic"})


def test_leak_check():
    passages = ["Paris is the capital and largest city of France, on the Seine river banks."]
    assert leaked_inputs(passages, ["paris is the capital and largest city of france on the seine"]) == [0]
    assert leaked_inputs(passages, ["What is the capital of France?", "Paris"]) == []
    assert leaked_inputs(["Paris"], ["paris!"]) == [0]


def test_rag_is_registered():
    from ladder.rungs import rung_names, rung_spec

    spec = rung_spec("rag")
    assert spec.compile.__module__ == "ladder.rungs.rag"
    assert spec.needs_corpus and not spec.trains
    assert rung_names().index("rag") == rung_names().index("few-shot") + 1


@pytest.mark.integration
def test_rag_with_the_real_model(tmp_path):
    from ladder.evaluation import evaluate
    from ladder.models import load_model
    from ladder.rungs.rag import compile

    prog = compile(qa_task(write_corpus(tmp_path / "c.jsonl", DOCS)), load_model("smollm2-135m"), {"k": 1})
    assert "Mount Everest" in prog.messages(TEST[1])[-1]["content"]
    res = evaluate(prog, TEST, "token_f1", expected=prog.task.expected)
    assert res.n == 2 and 0.0 <= res.score <= 1.0 and res.usage.tokens_in > 0

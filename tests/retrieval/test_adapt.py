"""ladder adapt: the synthetic-query filter, the manifest, refusing labels, and a tiny end-to-end run."""
import json
import re

import pytest
from click.testing import CliRunner

from ladder.errors import LadderError
from ladder.retrieval.adapt import (AdaptConfig, adapt, adapted_dir, clean_query, filter_queries, load_adapted,
                                    question_messages, refuse_labels)
from ladder.retrieval.chunk import Chunking
from ladder.retrieval.hit import Hit
from ladder.retrieval.index import build_index, load_corpus
from ladder.testing import DummyModel
from tests.retrieval.corpus_fixture import DOCS, write_beir, write_corpus


def writer(messages):
    """A question-writer double: asks about the passage's title (the demos' titles come first, so read the last turn)."""
    passage = messages[-1]["content"]
    title = re.match(r"Passage: ([^:]+):", passage).group(1)
    if title == "Jazz":
        return "Yes"  # not a question: dropped
    if title == "Apollo 11":
        return "Question: Which is the highest mountain on Earth?"  # another passage answers it: fails the round trip
    if title == "Python (programming language)":
        return "What is Mona Lisa?"  # a duplicate of the (kept) Mona Lisa passage's question
    return f"What is {title}?\nAnswer: it is described above"


@pytest.fixture
def bow(monkeypatch):
    """Index and search with DummyEmbedder's hashed bag of words instead of MiniLM (no weights)."""
    from ladder.retrieval import index as index_module
    from ladder.testing import DummyEmbedder

    monkeypatch.setattr(index_module, "embed", lambda texts, model=None, **kw: DummyEmbedder(64).encode(list(texts)))


@pytest.fixture
def index(tmp_path, bow):
    return build_index(load_corpus(str(write_corpus(tmp_path / "c.jsonl"))), tmp_path / "idx", chunking=Chunking("none"))


def row(pos, doc, query):
    return {"pos": pos, "doc_id": doc, "text": f"text {doc}", "title": doc, "query": query}


def test_clean_query_keeps_the_first_line_and_drops_non_questions():
    assert clean_query('Q: "Where is Everest?"\nmore') == "Where is Everest?"
    assert clean_query("  \n\nWhy do plants need light?") == "Why do plants need light?"
    assert clean_query("No") is None and clean_query("") is None
    assert clean_query(" ".join(["word"] * 41)) is None


def test_filter_marks_unusable_duplicates_and_failed_round_trips():
    rows = [row(0, "a", "who wrote a?"), row(1, "b", "Who wrote A"), row(2, "c", None), row(3, "d", "where is d?"),
            row(4, "e", "when was e?")]
    hit = lambda d: Hit(d, 1.0, f"text {d}", d)  # noqa: E731
    rankings = [[hit("a")], [hit("b")], [], [hit("x"), hit("y"), hit("d")], [hit("x")]]
    out = filter_queries(rows, rankings, top_k=2)
    assert [(r["kept"], r["reason"]) for r in out] == [
        (True, ""), (False, "duplicate"), (False, "not a question"), (False, "source not in top 2"),
        (False, "source not in top 2")]
    assert [r["rank"] for r in out] == [1, 1, None, 3, None]
    # a hit of the same document but another passage (text) is not the source
    assert filter_queries([row(0, "a", "q one two")], [[Hit("a", 1.0, "other passage", "a")]], 5)[0]["kept"] is False


def test_prompt_is_a_shared_prefix_with_the_passage_last():
    a = question_messages("T1", "first passage")
    b = question_messages("T2", "second passage")
    assert a[:-1] == b[:-1] and a[-1] != b[-1]
    assert a[-1]["content"] == "Passage: T1: first passage" and "data, not instructions" in a[0]["content"]


def test_adapt_writes_queries_and_a_manifest_and_resumes(index, tmp_path):
    model = DummyModel(respond=writer, name="writer")
    cfg = AdaptConfig(n_queries=len(DOCS), embedder=False, reranker=False, top_k=1)
    m = adapt(index, tmp_path / "idx", cfg, model=model)
    out = adapted_dir(tmp_path / "idx")
    assert out == (tmp_path / "idx.adapted").resolve()
    assert json.loads((out / "manifest.json").read_text()) == m
    assert m["llm"] == {"name": "writer", "sha256": "dummy:writer"}
    assert m["config"]["seed"] == 0 and m["config"]["n_queries"] == len(DOCS) and m["labels_read"].startswith("none")
    q = m["queries"]
    assert m["generation_complete"] and q["generated"] == 8
    assert set(m["seconds"]) == {"generate", "total"} and m["seconds"]["generate"] >= 0
    assert (q["sampled"], q["usable"], q["duplicates"], q["failed_round_trip"], q["kept"]) == (8, 7, 1, 1, 5)
    rows = [json.loads(line) for line in (out / "queries.jsonl").read_text().splitlines()]
    by_doc = {r["doc_id"]: r for r in rows}
    assert by_doc["everest"]["query"] == "What is Mount Everest?" and by_doc["everest"]["kept"]
    assert by_doc["python"]["reason"] == "duplicate" and by_doc["moon"]["rank"] != 1
    assert by_doc["moon"]["reason"] == "source not in top 1" and by_doc["jazz"]["reason"] == "not a question"
    calls = len(model.calls)
    assert calls == 8
    adapt(index, tmp_path / "idx", cfg, model=model)  # generation is cached: no new LLM calls
    adapt(index, tmp_path / "idx", AdaptConfig(n_queries=3, embedder=False, reranker=False, top_k=1), model=model)
    assert len(model.calls) == calls  # a smaller sample of the same passages: all cached still
    other = DummyModel(respond=writer, name="other")
    adapt(index, tmp_path / "idx", cfg, model=other)  # another LLM's questions are not reused, nor thrown away
    assert len(other.calls) == 8
    lines = (out / "queries.jsonl").read_text().splitlines()
    assert len(lines) == 16 and {json.loads(x)["llm"] for x in lines} == {"dummy:writer", "dummy:other"}
    (out / "queries.jsonl").write_text("\n".join(lines[:-1]) + "\n" + lines[-1][:20])  # killed mid-line
    adapt(index, tmp_path / "idx", cfg, model=other)
    assert len(other.calls) == 9 and all(  # that row asked again; the file is valid JSONL again
        json.loads(x) for x in (out / "queries.jsonl").read_text().splitlines())


def test_training_needs_enough_surviving_queries(index, tmp_path):
    model = DummyModel(default="Yes")  # never a question
    with pytest.raises(LadderError, match="survived the round trip"):
        adapt(index, tmp_path / "idx", AdaptConfig(n_queries=8), model=model)


def test_adapt_refuses_labels_and_never_reads_qrels(tmp_path, monkeypatch, bow):
    from ladder.cli import cli
    from ladder.cli.adapt import open_for_adapt

    with pytest.raises(LadderError, match="label-free"):
        refuse_labels("data/scifact/qrels/test.tsv")
    folder = write_beir(tmp_path / "beir")
    r = CliRunner().invoke(cli, ["adapt", str(folder / "qrels" / "test.tsv"), "--queries", "5"])
    assert r.exit_code != 0 and "label-free" in str(r.exception or r.output)
    # the qrels become unreadable (a folder where the file was) and the readers fail loudly: adapt still runs
    (folder / "qrels" / "test.tsv").unlink()
    (folder / "qrels" / "test.tsv").mkdir()

    def boom(*a, **k):
        raise AssertionError("adapt read qrels")

    import ladder.retrieval.evaluate as ev
    import ladder.retrieval.train_data as td

    monkeypatch.setattr(td, "read_qrels", boom)
    monkeypatch.setattr(ev, "load_qrels", boom)
    index, path = open_for_adapt(str(folder))
    m = adapt(index, path, AdaptConfig(n_queries=8, embedder=False, reranker=False), model=DummyModel(respond=writer))
    assert m["queries"]["sampled"] == 8 and m["corpus"] == str(folder)


def test_a_run_that_trains_less_removes_the_models_an_earlier_run_left(index, tmp_path):
    out = adapted_dir(tmp_path / "idx")
    for folder, marker in (("embedder", "config.json"), ("index", "manifest.json"), ("reranker", "config.json")):
        (out / folder).mkdir(parents=True)
        (out / folder / marker).write_text("{}")  # what an earlier run with an embedder and a cross-encoder leaves
    adapt(index, tmp_path / "idx", AdaptConfig(n_queries=3, embedder=False, reranker=False, top_k=1),
          model=DummyModel(respond=writer))
    assert not any((out / f).exists() for f in ("embedder", "index", "reranker"))
    a = load_adapted(tmp_path / "idx", index)
    assert a.index is index and a.reranker is None


def test_load_adapted_without_adapting_says_what_to_run(index, tmp_path):
    with pytest.raises(LadderError, match="ladder adapt"):
        load_adapted(tmp_path / "idx")


def wiki_index(tmp_path, rows):
    """A whole-document index over Wikipedia summaries (real MiniLM), and a writer asking about each title."""
    write_corpus(tmp_path / "w.jsonl", [{"id": r["title"], **r} for r in rows])
    idx = build_index(load_corpus(str(tmp_path / "w.jsonl")), tmp_path / "w", chunking=Chunking("none"))
    return idx, DummyModel(respond=lambda m: "What is " + re.match(r"Passage: ([^:]+):", m[-1]["content"]).group(1) + "?")


@pytest.mark.integration
def test_tiny_end_to_end_adapt_trains_and_search_uses_it(tmp_path, wiki_rows):
    """Real MiniLM training on 40 Wikipedia summaries with a title-question writer double."""
    rows = wiki_rows(40)
    idx, model = wiki_index(tmp_path, rows)
    cfg = AdaptConfig(n_queries=40, embedder_epochs=1, reranker_epochs=0.2, holdout=0.2)
    m = adapt(idx, tmp_path / "w", cfg, model=model)
    assert m["queries"]["kept"] >= 20 and m["models"]["embedder"]["steps"] >= 1
    assert m["models"]["reranker"]["blend"]["n_queries"] == m["queries"]["holdout"]
    assert {"generate", "train_embedder", "reembed_index", "train_reranker", "choose_blend", "total"} <= set(m["seconds"])
    a = load_adapted(tmp_path / "w")
    assert a.index.embedder.endswith("embedder") and a.reranker is not None
    hits = a.index.search("What is " + rows[0]["title"] + "?", k=5)
    assert a.reranker.rerank("What is " + rows[0]["title"] + "?", hits, 3)


@pytest.mark.integration
def test_tiny_adapt_distils_a_teacher_into_the_cross_encoder(tmp_path, wiki_rows):
    """With a teacher, the cross-encoder is trained pointwise on its labels (real MiniLM training)."""
    from ladder.retrieval.rerank import PointwiseLLM

    idx, writer_model = wiki_index(tmp_path, wiki_rows(24))

    def judges(messages):  # relevant when the passage is about what the question names
        about = re.search(r"What is (.+?)\?", messages[-1]["content"]).group(1)
        return "yes" if messages[-1]["content"].count(about) >= 2 else "no"

    judge = DummyModel(name="judge", respond=judges)
    cfg = AdaptConfig(n_queries=24, embedder=False, reranker_epochs=0.5, holdout=0.2, teacher_candidates=3)
    m = adapt(idx, tmp_path / "w", cfg, model=writer_model, teacher=PointwiseLLM(judge))
    ce = m["models"]["reranker"]
    train = m["queries"]["train"]
    assert ce["loss"] == "pointwise" and ce["teacher"]["reranker"] == "pointwise:judge"
    assert train <= ce["teacher"]["pairs"] <= 3 * train and len(judge.calls) == ce["teacher"]["pairs"]
    assert load_adapted(tmp_path / "w").reranker is not None


def test_cli_adapt_then_search_adapted(tmp_path, monkeypatch, bow):
    import ladder.models as models
    from ladder.cli import cli

    idx = tmp_path / "idx"
    build_index(load_corpus(str(write_corpus(tmp_path / "c.jsonl"))), idx, chunking=Chunking("none"))
    r = CliRunner().invoke(cli, ["search", str(idx), "mountain", "--adapted"])
    assert r.exit_code != 0 and "ladder adapt" in str(r.exception)  # nothing adapted yet: says what to run
    monkeypatch.setattr(models, "load_model", lambda spec, **kw: DummyModel(respond=writer, name=spec))
    r = CliRunner().invoke(cli, ["adapt", str(idx), "--queries", "8", "--no-embedder", "--no-reranker", "--json"])
    assert r.exit_code == 0, r.output
    m = json.loads(r.stdout[r.stdout.index("{"):])
    assert m["llm"]["name"] == "smollm2-135m" and m["queries"]["sampled"] == 8
    r = CliRunner().invoke(cli, ["search", str(idx), "highest mountain", "--adapted", "--json", "-k", "1",
                                 "--method", "bm25"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["hits"][0]["doc_id"] == "everest"


def test_teacher_labels_every_question_with_its_source_and_negatives():
    from ladder.retrieval.train_adapted import teacher_labels
    from ladder.retrieval.train_data import Group

    class Teacher:
        name, seen = "teacher", []

        def relevance(self, query, hits):
            self.seen.append((query, [h.text for h in hits]))
            return [1.0 if "source" in h.text else 0.25 for h in hits]

    t = Teacher()
    groups = [Group("q1", "source one", ["n1", "n2", "n3"], "0"), Group("q2", "source two", ["m1"], "1")]
    pairs = teacher_labels(groups, t, candidates=3)
    assert t.seen == [("q1", ["source one", "n1", "n2"]), ("q2", ["source two", "m1"])]
    assert [(p.query, p.passage, p.label) for p in pairs] == [
        ("q1", "source one", 1.0), ("q1", "n1", 0.25), ("q1", "n2", 0.25), ("q2", "source two", 1.0), ("q2", "m1", 0.25)]


def test_qlm_relevance_is_the_likelihood_relative_to_the_best_candidate():
    import math

    from ladder.retrieval.qlm import QueryLikelihood

    class Scorer:
        name = "fake"

        def mean_logprobs(self, prefixes, query):
            return [-1.0, -3.0, -1.5][:len(prefixes)]

    r = QueryLikelihood(Scorer()).relevance("q", [Hit(str(i), 0.0, "t") for i in range(3)])
    assert r == [1.0, math.exp(-2.0), math.exp(-0.5)]


def test_cli_refuses_a_teacher_that_cannot_label_before_writing_any_question(tmp_path, monkeypatch, bow):
    import ladder.models as models
    from ladder.testing import run_cli

    idx = tmp_path / "idx"
    build_index(load_corpus(str(write_corpus(tmp_path / "c.jsonl"))), idx, chunking=Chunking("none"))
    model = DummyModel(respond=writer)
    monkeypatch.setattr(models, "load_model", lambda spec, **kw: model)
    monkeypatch.setattr("ladder.retrieval.rerank.load_reranker", lambda spec, **kw: object())
    r = run_cli("adapt", idx, "--queries", "8", "--teacher", "cross-encoder")
    assert r.returncode == 2 and "cannot label pairs" in r.stderr and model.calls == []
    r = run_cli("adapt", idx, "--teacher", "qlm:x", "--no-reranker")
    assert r.returncode == 2 and "drop --no-reranker" in r.stderr

"""The on-disk index with the real bundled MiniLM, on a tiny corpus: build, load, each method, errors."""
import json

import numpy as np
import pytest

from ladder.errors import LadderError
from ladder.retrieval.chunk import Chunking
from ladder.retrieval.dense import embed
from ladder.retrieval.hit import Hit
from ladder.retrieval.index import INDEX_VERSION, Index, build_index, open_index, load_corpus
from tests.retrieval.corpus_fixture import DOCS, write_corpus

pytest.importorskip("sentence_transformers")


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    d = tmp_path_factory.mktemp("idx")
    corpus = write_corpus(d / "c.jsonl")
    return build_index(load_corpus(str(corpus)), d / "idx", chunking=Chunking("paragraph", max_words=12)), d


@pytest.mark.integration
def test_embed_is_normalised_and_semantic():
    v = embed(["a cat sits on the mat", "a kitten rests on a rug", "stock market crash"])
    assert v.shape == (3, 384) and v.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    assert v[0] @ v[1] > v[0] @ v[2]
    np.testing.assert_allclose(embed(["a cat sits on the mat"])[0], v[0], atol=1e-5)  # order and batching don't matter


def test_build_writes_a_versioned_folder(built):
    idx, d = built
    files = {p.name for p in (d / "idx").iterdir()}
    assert {"manifest.json", "passages.jsonl", "bm25", "dense.npy"} <= files
    m = json.loads((d / "idx" / "manifest.json").read_text())
    assert m["version"] == INDEX_VERSION and m["n_docs"] == len(DOCS)
    assert m["n_passages"] > len(DOCS)  # the Sistine document is split into two paragraphs
    assert not [p for p in d.iterdir() if ".tmp-" in p.name]


@pytest.mark.integration
@pytest.mark.parametrize("method", ["bm25", "dense", "hybrid"])
def test_each_method_finds_the_answer(built, method):
    idx = Index.load(built[1] / "idx")
    hits = idx.search("who painted the sistine chapel ceiling", k=3, method=method)
    assert isinstance(hits[0], Hit)
    assert hits[0].doc_id == "sistine" and hits[0].title == "Sistine Chapel ceiling"
    assert "Michelangelo" in hits[0].text
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


@pytest.mark.integration
def test_dense_finds_paraphrases_bm25_cannot(built):
    idx = built[0]
    q = "tallest peak on the planet"  # no word in common with the Everest passage
    assert idx.search(q, k=1, method="dense")[0].doc_id == "everest"
    assert all(h.doc_id != "everest" for h in idx.search(q, k=3, method="bm25"))


@pytest.mark.integration
def test_per_doc_collapses_passages(built):
    idx = built[0]
    hits = idx.search("sistine chapel renaissance art michelangelo", k=len(idx), method="hybrid")
    assert [h.doc_id for h in hits].count("sistine") == 2
    per = idx.search("sistine chapel renaissance art michelangelo", k=len(idx), method="hybrid", per_doc=True)
    assert [h.doc_id for h in per].count("sistine") == 1 and len(per) == len({h.doc_id for h in per})


@pytest.mark.integration
def test_search_many_equals_search(built):
    idx = built[0]
    qs = ["moon landing", "jazz origins"]
    many = idx.search_many(qs, k=3, method="hybrid")
    one = [idx.search(q, k=3, method="hybrid") for q in qs]
    assert [[(h.doc_id, h.text) for h in hits] for hits in many] == [[(h.doc_id, h.text) for h in hits] for hits in one]
    assert [h.score for h in many[1]] == pytest.approx([h.score for h in one[1]], abs=1e-5)


def test_bad_method_and_empty_query(built):
    with pytest.raises(LadderError, match="choose one of: hybrid, bm25, dense"):
        built[0].search("x", method="splade")
    with pytest.raises(LadderError, match="empty query"):
        built[0].search("  ")


def test_missing_and_foreign_version_indexes_are_clear_errors(built, tmp_path):
    with pytest.raises(LadderError, match="no search index here"):
        Index.load(tmp_path / "nothing")
    import shutil

    old = tmp_path / "old"
    shutil.copytree(built[1] / "idx", old)
    m = json.loads((old / "manifest.json").read_text())
    m["version"] = INDEX_VERSION + 1
    (old / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(LadderError, match=f"version {INDEX_VERSION + 1}, this ladder reads version {INDEX_VERSION}"):
        Index.load(old)


def test_refuses_to_overwrite_a_folder_that_is_not_an_index(tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "notes.txt").write_text("mine")
    with pytest.raises(LadderError, match="not a ladder index"):
        build_index(DOCS, tmp_path / "out")
    assert (tmp_path / "out" / "notes.txt").read_text() == "mine"


def test_failed_build_leaves_no_half_index(tmp_path):
    def docs():
        yield DOCS[0]
        raise LadderError("corpus.jsonl:2: broken")
    with pytest.raises(LadderError, match="broken"):
        build_index(docs(), tmp_path / "out")
    assert not (tmp_path / "out").exists() and not list(tmp_path.iterdir())


@pytest.mark.integration
def test_open_index_caches_and_excludes(tmp_path, ladder_home):
    corpus = write_corpus(tmp_path / "c.jsonl")
    a = open_index(str(corpus), chunking=Chunking("none"), exclude_ids=["moon"])
    assert a.path.parent == ladder_home / "indexes"
    assert "moon" not in {p.doc_id for p in a.passages} and len(a) == len(DOCS) - 1
    assert open_index(str(corpus), chunking=Chunking("none"), exclude_ids=["moon"]).path == a.path  # cached
    assert open_index(str(a.path)).path == a.path  # an index folder loads as is

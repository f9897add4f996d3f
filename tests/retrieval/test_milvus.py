"""The Milvus backend through milvus-lite (a local folder): same Hit contract as the embedded index."""
import json

import pytest

from ladder.errors import LadderError
from ladder.retrieval.hit import Hit
from ladder.retrieval.index import Index, build_index
from tests.retrieval.corpus_fixture import DOCS


def _lite_or_skip(tmp_path_factory):
    pytest.importorskip("pymilvus", reason="pymilvus not installed")
    pytest.importorskip("milvus_lite", reason="milvus-lite not installed")
    pytest.importorskip("sentence_transformers", reason="sentence-transformers not installed")
    try:
        return build_index(DOCS, tmp_path_factory.mktemp("milvus") / "idx", backend="milvus")
    except LadderError as e:
        if "cannot open Milvus" in str(e):
            pytest.skip(f"milvus-lite cannot start here: {e}")
        raise


@pytest.fixture(scope="module")
def midx(tmp_path_factory):
    idx = _lite_or_skip(tmp_path_factory)
    yield idx
    idx.close()


def test_folder_is_a_versioned_milvus_index(midx):
    m = json.loads((midx.path / "manifest.json").read_text())
    assert m["backend"] == "milvus" and m["milvus"]["lite"] and m["milvus"]["uri"] == "milvus.db"
    assert (midx.path / "milvus.db").exists() and not (midx.path / "dense.npy").exists()
    assert len(midx) == m["n_passages"] == len(DOCS)  # default chunking: each short document is one passage


@pytest.mark.integration
@pytest.mark.parametrize("method", ["bm25", "dense", "hybrid"])
def test_each_method_returns_hits(midx, method):
    hits = midx.search("who painted the sistine chapel ceiling", k=3, method=method)
    assert hits and all(isinstance(h, Hit) for h in hits)
    assert hits[0].doc_id == "sistine" and hits[0].title == "Sistine Chapel ceiling"
    assert hits[0].text.startswith("The Sistine Chapel ceiling was painted")  # the passage, without the title line
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert hits[0].score > 0


@pytest.mark.integration
def test_dense_and_per_doc(midx):
    assert midx.search("tallest peak on the planet", k=1, method="dense")[0].doc_id == "everest"
    per = midx.search("sistine chapel renaissance michelangelo", k=5, method="hybrid", per_doc=True)
    assert len({h.doc_id for h in per}) == len(per)


@pytest.mark.integration
def test_reload_from_folder_gives_same_results(midx):
    before = midx.search_many(["moon landing", "jazz new orleans"], k=3, method="hybrid")
    midx.close()
    again = Index.load(midx.path)
    try:
        after = again.search_many(["moon landing", "jazz new orleans"], k=3, method="hybrid")
        assert [[h.doc_id for h in r] for r in after] == [[h.doc_id for h in r] for r in before]
    finally:
        again.close()
    midx.client = Index.load(midx.path).client  # reopen for later tests in this module


def test_missing_database_is_a_clear_error(tmp_path):
    pytest.importorskip("pymilvus")
    (tmp_path / "manifest.json").write_text(json.dumps({
        "format": "ladder-index", "version": 1, "backend": "milvus",
        "milvus": {"uri": "milvus.db", "lite": True, "collection": "passages"}}))
    with pytest.raises(LadderError, match="milvus-lite database is missing"):
        Index.load(tmp_path)


@pytest.mark.integration
def test_rag_checks_a_milvus_corpus_for_test_inputs_too(midx):
    """The leak check used to skip Milvus indexes; both backends now give every passage's text."""
    from ladder.retrieval.protocol import SearchIndex
    from ladder.rungs.rag import compile as rag
    from ladder.task import Task
    from ladder.testing import DummyModel

    assert isinstance(midx, SearchIndex)
    texts = list(midx.texts())
    assert len(texts) == len(midx) and any("Leonardo da Vinci" in t for t in texts)
    leaked = "The Mona Lisa is a half-length portrait painting by Leonardo da Vinci."
    task = Task(name="t", instruction="Answer.", input="{q}", output="a", train=[{"q": "x", "a": "y"}],
                test=[{"q": leaked, "a": "Leonardo"}], corpus="milvus-index")
    with pytest.raises(LadderError, match="1 test input.s. appear in the corpus"):
        rag(task, DummyModel(), {"index": midx})

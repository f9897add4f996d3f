"""Our BM25 layer against bm25s called directly: same documents, same scores; save/load round trip."""
import numpy as np
import pytest

from ladder.retrieval.bm25 import BM25
from tests.retrieval.corpus_fixture import DOCS

TEXTS = [f"{d['title']}\n{d['text']}" for d in DOCS]
QUERIES = ["who painted the sistine chapel", "highest mountain", "plants light energy", "zzz unknownword"]


@pytest.mark.parametrize("stemmer", ["english", None])
def test_matches_raw_bm25s(stemmer):
    import bm25s
    import Stemmer

    ours = BM25(stemmer=stemmer).index(TEXTS)
    raw = bm25s.BM25()
    st = Stemmer.Stemmer("english") if stemmer else None
    raw.index(bm25s.tokenize(TEXTS, stopwords="en", stemmer=st, show_progress=False), show_progress=False)
    raw_ids, raw_scores = raw.retrieve(bm25s.tokenize(QUERIES, stopwords="en", stemmer=st, show_progress=False),
                                       k=5, show_progress=False)
    ids, scores = ours.search(QUERIES, k=5)
    np.testing.assert_allclose(scores, raw_scores, rtol=1e-6)
    for r in range(len(QUERIES)):
        if scores[r, 0] > 0:
            assert ids[r, 0] == raw_ids[r, 0]
    assert TEXTS[ids[0, 0]].startswith("Sistine")
    assert scores[3].max() == 0  # no known word: nothing scores


def test_stemming_matches_inflections():
    assert BM25(stemmer="english").index(TEXTS).search(["paintings"], k=1)[1][0, 0] > 0
    assert BM25(stemmer=None).index(TEXTS).search(["paintings"], k=1)[1][0, 0] == 0


def test_save_load_round_trip_without_pickle(tmp_path):
    bm = BM25().index(TEXTS)
    bm.save(tmp_path / "bm25")
    back = BM25.load(tmp_path / "bm25")
    a, b = bm.search(QUERIES, k=3), back.search(QUERIES, k=3)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_allclose(a[1], b[1])
    assert back.stemmer == "english" and back.n_docs == len(TEXTS)
    full = back.scores("sistine chapel")
    assert full.shape == (len(TEXTS),) and full.argmax() == 0
    for f in (tmp_path / "bm25").glob("*.npy"):
        np.load(f, allow_pickle=False)  # plain arrays

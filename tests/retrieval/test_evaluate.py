"""BEIR loading and evaluation on a folder the test writes."""
import pytest

from ladder.errors import LadderError
from ladder.retrieval.evaluate import evaluate_retrieval, load_qrels, load_queries, score_rankings
from tests.retrieval.corpus_fixture import write_beir


def test_qrels_with_and_without_header(tmp_path):
    (tmp_path / "qrels").mkdir()
    (tmp_path / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\t1\nq1\td2\t2\n")
    (tmp_path / "qrels" / "dev.tsv").write_text("q1\td1\t1\n")
    assert load_qrels(tmp_path, "test") == {"q1": {"d1": 1, "d2": 2}}
    assert load_qrels(tmp_path, "dev") == {"q1": {"d1": 1}}
    (tmp_path / "qrels" / "bad.tsv").write_text("q1\td1\t1\nq2\td2\thigh\n")
    with pytest.raises(LadderError, match=r"bad.tsv:2: score 'high' is not a number"):
        load_qrels(tmp_path, "bad")
    with pytest.raises(LadderError, match="queries.jsonl missing"):
        load_queries(tmp_path)


def test_score_rankings_means_and_intervals():
    out = score_rankings([["a", "b"], ["x", "y"]], [{"a": 1}, {"y": 1}])
    assert out["mrr@10"]["mean"] == pytest.approx(0.75)
    assert out["recall@100"]["mean"] == 1.0
    assert out["ndcg@10"]["low"] <= out["ndcg@10"]["mean"] <= out["ndcg@10"]["high"]


@pytest.mark.integration
def test_bm25_on_a_tiny_beir_folder(tmp_path):
    folder = write_beir(tmp_path / "beir")
    rep = evaluate_retrieval(folder, methods=["bm25"], latency_queries=2)
    r = rep["results"][0]
    assert rep["n_docs"] == 8 and r["n_queries"] == 4 and r["latency_ms"]["queries_timed"] == 2
    # q1 and q2 share words with their documents; q3/q4 partly: BM25 is good but not perfect here
    assert 0.5 < r["ndcg@10"]["mean"] <= 1.0


@pytest.mark.integration
def test_rerank_path_calls_the_reranker_on_the_head_only(tmp_path):
    folder = write_beir(tmp_path / "beir")
    seen = []

    class Reverse:
        def rerank(self, query, hits, k):
            seen.append(len(hits))
            return list(reversed(hits))[:k]

    plain = evaluate_retrieval(folder, methods=["dense"])["results"][0]
    rev = evaluate_retrieval(folder, methods=["dense"], reranker=Reverse(), rerank_name="reverse", rerank_depth=3)
    r = rev["results"][0]
    assert r["rerank"] == "reverse" and set(seen) == {3} and len(seen) >= 4
    assert r["recall@100"] == plain["recall@100"]  # the tail keeps its order
    assert r["mrr@10"]["mean"] < plain["mrr@10"]["mean"]

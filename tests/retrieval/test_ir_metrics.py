"""Metrics against a worked example and a reference implementation (scikit-learn's ndcg_score)."""
import math
import random

import numpy as np
import pytest

from ladder.retrieval.ir_metrics import mean_ci, mrr_at_k, ndcg_at_k, percentile, recall_at_k


def test_ndcg_worked_example():
    # DCG = 1 + 0 + 2/log2(4) = 2; IDCG = 2 + 1/log2(3) + 1/log2(4) = 3.1309
    got = ndcg_at_k(["d1", "d2", "d3"], {"d1": 1, "d3": 2, "d9": 1}, k=3)
    assert got == pytest.approx(2.0 / (2 + 1 / math.log2(3) + 0.5))
    assert got == pytest.approx(0.6388, abs=1e-4)


def test_ndcg_edges():
    assert ndcg_at_k(["a", "b"], {"a": 1}, 10) == 1.0
    assert ndcg_at_k(["b", "a"], {"a": 1}, 1) == 0.0
    assert ndcg_at_k(["a"], {}, 10) == 0.0
    assert ndcg_at_k(["a", "a", "b"], {"b": 1}, 10) == pytest.approx(1 / math.log2(3))  # duplicates count once


@pytest.mark.parametrize("seed", range(20))
def test_ndcg_matches_sklearn(seed):
    from sklearn.metrics import ndcg_score

    rng = random.Random(seed)
    n = rng.randint(5, 40)
    docs = [f"d{i}" for i in range(n)]
    qrels = {d: rng.choice([0, 0, 1, 2, 3]) for d in docs}
    if not any(qrels.values()):
        qrels[docs[0]] = 1
    ranked = docs[:]
    rng.shuffle(ranked)
    k = rng.choice([1, 3, 10])
    # sklearn scores a full vector of predicted scores: rank r gets score n - r
    y_true = np.array([[qrels[d] for d in docs]])
    y_score = np.array([[n - ranked.index(d) for d in docs]])
    assert ndcg_at_k(ranked, qrels, k) == pytest.approx(ndcg_score(y_true, y_score, k=k), abs=1e-9)


def test_recall_and_mrr():
    assert recall_at_k(["a", "b"], {"a": 1, "c": 1}, 2) == 0.5
    assert recall_at_k(["a", "b", "c"], {"a": 1, "c": 1}, 2) == 0.5
    assert recall_at_k(["a"], {"a": 0}, 2) == 0.0
    assert mrr_at_k(["a", "b"], {"b": 1}) == 0.5
    assert mrr_at_k(["a", "b"], {"b": 1}, k=1) == 0.0
    assert mrr_at_k(["x", "b"], {"b": 2, "x": 0}) == 0.5


def test_mean_ci_brackets_the_mean_and_narrows_with_more_queries():
    small = mean_ci([0.0, 1.0] * 10)
    big = mean_ci([0.0, 1.0] * 500)
    assert small[1] < small[0] == 0.5 < small[2]
    assert (big[2] - big[1]) < (small[2] - small[1])
    assert mean_ci([0.7] * 5) == pytest.approx((0.7, 0.7, 0.7))


def test_percentile():
    assert percentile([1, 2, 3, 4], 50) == 2.5
    assert percentile([5], 95) == 5
    assert percentile([1, 2, 3, 4, 5], 100) == 5

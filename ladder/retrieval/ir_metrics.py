"""Retrieval metrics: plain functions over one query's ranking and its relevance judgements.

`ranked` is a list of doc ids, best first (duplicates count once, at their
first position); `qrels` maps doc id -> graded relevance (0 = not relevant).
Gains are linear in the grade and discounts log2(rank + 1), as trec_eval and
BEIR (pytrec_eval) compute them.

Worked example (`ndcg_at_k`), ranked [d1, d2, d3], qrels {d1: 1, d3: 2, d9: 1}, k=3:
  DCG  = 1/log2(2) + 0/log2(3) + 2/log2(4)            = 1 + 0 + 1       = 2.0
  IDCG = 2/log2(2) + 1/log2(3) + 1/log2(4)            = 2 + 0.6309 + 0.5 = 3.1309
  nDCG@3 = 2.0 / 3.1309 = 0.6388
"""
from __future__ import annotations

import math
from typing import Callable, Mapping, Sequence


def _dedupe(ranked: Sequence[str]) -> list[str]:
    seen: set[str] = set()
    out = []
    for d in ranked:
        if d not in seen:
            seen.add(d)
            out.append(d)
    return out


def dcg(gains: Sequence[float]) -> float:
    return sum(g / math.log2(i + 2) for i, g in enumerate(gains))


def ndcg_at_k(ranked: Sequence[str], qrels: Mapping[str, float], k: int = 10) -> float:
    ideal = dcg(sorted((g for g in qrels.values() if g > 0), reverse=True)[:k])
    if ideal == 0:
        return 0.0
    return dcg([max(qrels.get(d, 0), 0) for d in _dedupe(ranked)[:k]]) / ideal


def recall_at_k(ranked: Sequence[str], qrels: Mapping[str, float], k: int = 100) -> float:
    """Share of the relevant documents found in the top k. [a, b], {a: 1, c: 1}, k=2 -> 0.5."""
    relevant = {d for d, g in qrels.items() if g > 0}
    if not relevant:
        return 0.0
    return len(relevant & set(_dedupe(ranked)[:k])) / len(relevant)


def mrr_at_k(ranked: Sequence[str], qrels: Mapping[str, float], k: int = 10) -> float:
    """1 / rank of the first relevant document within the top k, else 0. [a, b], {b: 1} -> 0.5."""
    for i, d in enumerate(_dedupe(ranked)[:k], start=1):
        if qrels.get(d, 0) > 0:
            return 1.0 / i
    return 0.0


METRICS: dict[str, Callable[[Sequence[str], Mapping[str, float]], float]] = {
    "ndcg@10": lambda r, q: ndcg_at_k(r, q, 10),
    "recall@100": lambda r, q: recall_at_k(r, q, 100),
    "mrr@10": lambda r, q: mrr_at_k(r, q, 10),
}


def mean_ci(values: Sequence[float], n_boot: int = 2000, seed: int = 0, level: float = 0.95) -> tuple[float, float, float]:
    """Mean with a percentile-bootstrap confidence interval over queries: (mean, low, high)."""
    if not values:
        return (0.0, 0.0, 0.0)
    from ladder.stats import bootstrap_ci

    lo, hi = bootstrap_ci(values, samples=n_boot, seed=seed, level=level)
    return (sum(values) / len(values), lo, hi)


def percentile(values: Sequence[float], p: float) -> float:
    """Linear-interpolated percentile, p in [0, 100]. [1, 2, 3, 4], 50 -> 2.5."""
    if not values:
        return 0.0
    xs = sorted(values)
    pos = (len(xs) - 1) * p / 100
    lo = math.floor(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)

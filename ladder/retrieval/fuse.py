"""Hybrid fusion: combine ranked lists from several retrievers into one.

Each fusion is a small pure function picked by name (`FUSIONS`). Inputs are
rankings: lists of (key, score) pairs, best first; keys are anything hashable
(passage positions inside an index, or (doc_id, text) for Hits).

- `rrf` (reciprocal-rank fusion, Cormack et al. 2009): score(d) = sum_i w_i / (k + rank_i(d)),
  ranks from 1; a list that misses d adds nothing.
  Worked example, k=60, lists [a, b] and [b, c]:
  a = 1/61 = 0.016393, b = 1/62 + 1/61 = 0.032522, c = 1/62 = 0.016129 -> b, a, c.
- `weighted` (convex combination of min-max normalised scores): each list's
  scores are mapped to [0, 1] over that list; a list that misses d gives 0.
  Worked example, weights (0.5, 0.5), lists [(a, 10), (b, 5)] and [(b, .9), (c, .5)]:
  a = .5*1 = .5, b = .5*0 + .5*1 = .5, c = .5*0 = 0 -> a, b (tie kept in first-seen order), c.
"""
from __future__ import annotations

from typing import Callable, Hashable, Sequence

from ladder.errors import LadderError
from ladder.retrieval.hit import Hit

Ranking = Sequence[tuple[Hashable, float]]


def _weights(n: int, weights: Sequence[float] | None) -> list[float]:
    if weights is None:
        return [1.0 / n] * n if n else []
    if len(weights) != n:
        raise LadderError(f"fusion got {n} rankings but {len(weights)} weights")
    return [float(w) for w in weights]


def rrf(rankings: Sequence[Ranking], weights: Sequence[float] | None = None, k: int = 60) -> list[tuple[Hashable, float]]:
    w = [1.0] * len(rankings) if weights is None else _weights(len(rankings), weights)
    fused: dict[Hashable, float] = {}
    for wi, ranking in zip(w, rankings):
        for rank, (key, _) in enumerate(ranking, start=1):
            fused[key] = fused.get(key, 0.0) + wi / (k + rank)
    return sorted(fused.items(), key=lambda kv: -kv[1])


def minmax(scores: Sequence[float]) -> list[float]:
    if not scores:
        return []
    lo, hi = min(scores), max(scores)
    if hi <= lo:
        return [1.0] * len(scores)
    return [(s - lo) / (hi - lo) for s in scores]


def weighted(rankings: Sequence[Ranking], weights: Sequence[float] | None = None, **_: object) -> list[tuple[Hashable, float]]:
    w = _weights(len(rankings), weights)
    fused: dict[Hashable, float] = {}
    for wi, ranking in zip(w, rankings):
        for (key, _), s in zip(ranking, minmax([s for _, s in ranking])):
            fused[key] = fused.get(key, 0.0) + wi * s  # absent from a list: adds its minimum, 0
    return sorted(fused.items(), key=lambda kv: -kv[1])


FUSIONS: dict[str, Callable[..., list[tuple[Hashable, float]]]] = {"rrf": rrf, "weighted": weighted}


def fuse(method: str, rankings: Sequence[Ranking], weights: Sequence[float] | None = None, **kw) -> list[tuple[Hashable, float]]:
    if method not in FUSIONS:
        raise LadderError(f"unknown fusion '{method}'; choose one of: {', '.join(FUSIONS)}")
    return FUSIONS[method](rankings, weights, **kw)


def fuse_hits(method: str, hit_lists: Sequence[Sequence[Hit]], weights: Sequence[float] | None = None,
              k: int | None = None, **kw) -> list[Hit]:
    """Fuse lists of Hits (from any retrievers); a passage is identified by (doc_id, text)."""
    by_key: dict[Hashable, Hit] = {}
    rankings = []
    for hits in hit_lists:
        rankings.append([((h.doc_id, h.text), h.score) for h in hits])
        for h in hits:
            by_key.setdefault((h.doc_id, h.text), h)
    out = [Hit(by_key[key].doc_id, score, by_key[key].text, by_key[key].title)
           for key, score in fuse(method, rankings, weights, **kw)]
    return out if k is None else out[:k]

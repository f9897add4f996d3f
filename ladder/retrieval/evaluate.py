"""Evaluate retrieval on a BEIR folder: nDCG@10, Recall@100, MRR@10 (95% CI), latency p50/p95.

    report = evaluate_retrieval("../shared/data/beir/scifact", methods=["bm25", "hybrid"])
    report["results"][0] -> {"method": "bm25", "rerank": None, "ndcg@10": {"mean", "low", "high"}, ...,
                             "latency_ms": {"p50", "p95"}, "n_queries": 300}

Latency is per query, end to end (embedding, BM25, fusion, rerank), timed on
single searches as a user makes them (the first `latency_queries` queries);
without a reranker the scores come from one batched pass over all queries,
which returns the same rankings as searching one by one (up to float rounding). The corpus is indexed
whole-document (`Chunking("none")`), as BEIR scores documents; the index is
built once and cached under $LADDER_HOME/indexes.
"""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Callable, Sequence

from ladder.errors import LadderError
from ladder.retrieval.chunk import Chunking
from ladder.retrieval.hit import Hit
from ladder.retrieval.index import open_index
from ladder.retrieval.protocol import RERANK_DEPTH, check_method
from ladder.retrieval.ir_metrics import METRICS, mean_ci, percentile

DEPTH = 100  # documents ranked per query (Recall@100 needs 100)


def load_queries(folder: Path) -> dict[str, str]:
    path = folder / "queries.jsonl"
    if not path.is_file():
        raise LadderError(f"{folder}: not a BEIR folder (queries.jsonl missing)")
    out = {}
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, start=1):
            if line.strip():
                try:
                    row = json.loads(line)
                    out[str(row["_id"])] = row["text"]
                except (json.JSONDecodeError, KeyError) as e:
                    raise LadderError(f"{path}:{n}: expected {{_id, text}} ({e})") from None
    return out


def load_qrels(folder: Path, split: str = "test") -> dict[str, dict[str, int]]:
    path = folder / "qrels" / f"{split}.tsv"
    if not path.is_file():
        have = sorted(p.stem for p in (folder / "qrels").glob("*.tsv"))
        raise LadderError(f"{path}: no qrels for split '{split}'; choose one of: {', '.join(have) or '(none found)'}")
    qrels: dict[str, dict[str, int]] = {}
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, start=1):
            parts = line.rstrip("\n").split("\t")
            if not line.strip():
                continue
            if len(parts) < 3:
                raise LadderError(f"{path}:{n}: expected 'query-id<TAB>corpus-id<TAB>score'")
            try:
                grade = int(float(parts[-1]))
            except ValueError:
                if n == 1:
                    continue  # header line
                raise LadderError(f"{path}:{n}: score '{parts[-1]}' is not a number") from None
            qrels.setdefault(parts[0], {})[parts[-2]] = grade
    return qrels


def rank_queries(search: Callable[[str], list[Hit]], queries: Sequence[str]) -> tuple[list[list[str]], list[float]]:
    """Doc-id rankings and per-query seconds for `search` over `queries`."""
    ranked, seconds = [], []
    for q in queries:
        t = time.perf_counter()
        hits = search(q)
        seconds.append(time.perf_counter() - t)
        ranked.append([h.doc_id for h in hits])
    return ranked, seconds


def score_rankings(ranked: Sequence[Sequence[str]], qrels: Sequence[dict]) -> dict[str, dict[str, float]]:
    out = {}
    for name, metric in METRICS.items():
        mean, lo, hi = mean_ci([metric(r, q) for r, q in zip(ranked, qrels)])
        out[name] = {"mean": round(mean, 4), "low": round(lo, 4), "high": round(hi, 4)}
    return out


def make_search(index: Any, method: str, reranker: Any = None, rerank_depth: int = RERANK_DEPTH) -> Callable[[str], list[Hit]]:
    def search(q: str) -> list[Hit]:
        hits = index.search(q, k=DEPTH, method=method, per_doc=True)
        if reranker is None:
            return hits
        head = reranker.rerank(q, hits[:rerank_depth], rerank_depth)
        return list(head) + hits[rerank_depth:]  # the tail keeps its order, so Recall@100 is unchanged
    return search


def evaluate_retrieval(folder: str | Path, methods: Sequence[str] = ("bm25", "dense", "hybrid"), split: str = "test",
                       index: Any = None, reranker: Any = None, rerank_name: str | None = None, rerank_depth: int = RERANK_DEPTH,
                       limit: int | None = None, progress: bool = False, batch: bool = True,
                       latency_queries: int = 100) -> dict:
    folder = Path(folder)
    for m in methods:
        check_method(m)
    queries = load_queries(folder)
    qrels = load_qrels(folder, split)
    qids = [q for q in qrels if q in queries]
    if not qids:
        raise LadderError(f"{folder}: no query of qrels/{split}.tsv appears in queries.jsonl")
    if limit:
        qids = qids[:limit]
    if index is None:
        index = open_index(folder, chunking=Chunking("none"), progress=progress)
    texts = [queries[q] for q in qids]
    results = []
    for m in methods:
        index.search(texts[0], k=DEPTH, method=m)  # warm up (loads the embedder) outside the timing
        search = make_search(index, m, reranker, rerank_depth)
        if reranker is None and batch:
            # batched gives the same rankings as one by one (tested); latency from single queries on a sample
            ranked = [[h.doc_id for h in hits] for hits in index.search_many(texts, k=DEPTH, method=m, per_doc=True)]
            _, secs = rank_queries(search, texts[:latency_queries])
        else:
            ranked, secs = rank_queries(search, texts)
        ms = [s * 1000 for s in secs]
        results.append({"method": m, "rerank": rerank_name, **score_rankings(ranked, [qrels[q] for q in qids]),
                        "latency_ms": {"p50": round(percentile(ms, 50), 2), "p95": round(percentile(ms, 95), 2),
                                       "queries_timed": len(ms)},
                        "n_queries": len(qids)})
    return {"dataset": str(folder), "split": split, "n_docs": index.manifest.get("n_docs"), "results": results}

"""Reranking on BEIR SciFact: what each reranker costs (pairs/s) and what quality it buys (nDCG@10).

First stage: the ladder hybrid index (BM25 + MiniLM, RRF), top 100 per query.
Rerankers:
- the cross-encoder trained by `ladder train-reranker` on SciFact TRAIN qrels
  (run it first; its held-out train queries, never used in training, tune the
  depth and the CE/hybrid blend here; test is only reported);
- the LLM rerankers (pointwise yes/no, listwise window) with the bundled
  models, on a small seeded sample of test queries (they run ~1 pair/s).

    python bench/rerank_scifact.py [--ce DIR] [--llm-queries 15] [--llm-models qwen2.5-coder-0.5b,smollm2-135m]
"""
from __future__ import annotations

import argparse
import json
import os
import random
import time
from pathlib import Path

from common import load_model_threads, need_data, write

os.environ.setdefault("HF_HUB_OFFLINE", "1")

DEPTHS = (10, 20)  # candidates reranked (top of the hybrid list)
WEIGHTS = (0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)  # the cross-encoder's weight in the blend; 1.0 = CE alone
KINDS = ("rank", "score")  # ladder.retrieval.rerank.BLENDS


def rerank_ids(hits, ce_scores, depth, kind, w):
    """The library's CE blend (`rerank.BLENDS[kind]`) over the top `depth` hits, from cached CE scores;
    the tail keeps the first-stage order."""
    from ladder.retrieval.hit import Hit
    from ladder.retrieval.rerank import BLENDS

    head = hits[:depth]
    after = sorted((Hit(h.doc_id, s, h.text, h.title) for h, s in zip(head, ce_scores)), key=lambda h: -h.score)
    return [h.doc_id for h in BLENDS[kind](head, after, w)] + [h.doc_id for h in hits[depth:]]


BM25_WEIGHTS = (0.2, 0.3, 0.4, 0.5)  # hybrid fusion grid (weighted min-max), chosen on held-out train queries


def choose_fusion(idx, queries, dev_ids, train_q, Fusion):
    """The hybrid fusion weights best on held-out train queries (the index default when there are none)."""
    if not dev_ids:
        return idx.fusion, {}
    out = {}
    for w in BM25_WEIGHTS:
        f = Fusion("weighted", (w, 1 - w))
        runs = [[h.doc_id for h in idx.search(queries[q], k=100, method="hybrid", fusion=f, per_doc=True)] for q in dev_ids]
        out[w] = ndcg(runs, [train_q[q] for q in dev_ids])["ndcg@10"]["mean"]
    best = max(out, key=out.get)
    return Fusion("weighted", (best, 1 - best)), {f"bm25_{w}": v for w, v in out.items()}


class ScoreCache:
    """Cross-encoder scores per (query id, doc id), kept on disk per model file, so blends and fusions
    can be re-tried without re-scoring; the speed numbers come from the run that scored them."""

    def __init__(self, ce_dir: Path):
        import hashlib

        st = (Path(ce_dir) / "model.safetensors").stat()
        key = hashlib.sha256(f"{Path(ce_dir).resolve()}|{st.st_size}|{st.st_mtime_ns}".encode()).hexdigest()[:16]
        self.path = Path.home() / ".cache/ladder/bench" / f"ce-scores-{key}.json"
        self.data = json.loads(self.path.read_text()) if self.path.exists() else {"scores": {}, "rate": None}

    def scores(self, ce, qid: str, query: str, hits) -> list[float]:
        s = self.data["scores"]
        todo = [h for h in hits if f"{qid}\t{h.doc_id}" not in s]
        if todo:
            for h, v in zip(todo, ce.scores(query, [f"{h.title}. {h.text}" if h.title else h.text for h in todo])):
                s[f"{qid}\t{h.doc_id}"] = v
        return [s[f"{qid}\t{h.doc_id}"] for h in hits]

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.data))
        tmp.replace(self.path)


def ndcg(rankings, qrels):
    from ladder.retrieval.evaluate import score_rankings

    return score_rankings(rankings, qrels)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--ce", default=str(Path.home() / ".cache/ladder/rerankers/scifact-minilm"))
    ap.add_argument("--llm-queries", type=int, default=5)
    ap.add_argument("--llm-depth", type=int, default=10)
    ap.add_argument("--llm", default="pointwise:smollm2-135m,listwise:smollm2-135m,pointwise:qwen2.5-coder-0.5b",
                    help="LLM rerankers to sample, as kind:model")
    ap.add_argument("--skip-llm", action="store_true")
    ap.add_argument("--llm-only", action="store_true",
                    help="only the LLM sample (first stage and CE scored on the sampled queries alone)")
    ap.add_argument("--test-queries", type=int, default=0, help="score a seeded sample of N test queries (0 = all 300)")
    ap.add_argument("--holdout-queries", type=int, default=0, help="tune on N of the held-out train queries (0 = all)")
    ap.add_argument("--depths", default="10,20", help="reranking depths to try")
    ap.add_argument("--name", default="rerank_scifact", help="results file name under bench/results/")
    ap.add_argument("--embedder", default="minilm",
                    help="dense embedder of the first stage: minilm, or a folder from `ladder train-embedder`")
    ap.add_argument("--threads", type=int, default=1, help="llama.cpp threads for bundled models (0 = default)")
    args = ap.parse_args()
    folder = need_data("beir", "scifact")

    from ladder.retrieval.chunk import Chunking
    from ladder.retrieval.cross_encoder import read_meta
    from ladder.retrieval.evaluate import load_qrels, load_queries
    from ladder.retrieval.index import Fusion, open_index
    from ladder.retrieval.rerank import load_reranker

    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    ce_dir = Path(args.ce)
    if not (ce_dir / "config.json").exists():
        print(f"skip: no cross-encoder at {ce_dir}; run: ladder train-reranker {folder} --holdout 100 --out {ce_dir}")
        raise SystemExit(0)
    meta = read_meta(ce_dir)
    held = meta.get("source", {}).get("holdout_query_ids", [])
    queries = load_queries(folder)
    test_q, train_q = load_qrels(folder, "test"), load_qrels(folder, "train")
    test_ids = [q for q in test_q if q in queries]
    dev_ids = [q for q in held if q in train_q and q in queries]
    assert not set(dev_ids) & set(test_ids)
    global DEPTHS
    DEPTHS = tuple(int(d) for d in args.depths.split(","))
    if args.test_queries and not args.llm_only:
        test_ids = sample_ids(test_ids, args.test_queries)
    if args.holdout_queries:
        dev_ids = sample_ids(dev_ids, args.holdout_queries)

    t = time.perf_counter()
    idx = open_index(folder, chunking=Chunking("none"), embedder=args.embedder, progress=True)
    index_s = time.perf_counter() - t
    if args.llm_only:
        ids = sample_ids(test_ids, args.llm_queries)
        first = {q: idx.search(queries[q], k=100, method="hybrid", per_doc=True) for q in ids}
        ce = load_reranker(f"cross-encoder:{ce_dir}")
        ce_scores = {q: ce.inner.scores(queries[q], [f"{h.title}. {h.text}" if h.title else h.text
                                                     for h in first[q][:args.llm_depth]]) for q in ids}
        write(args.name, {"dataset": str(folder), "split": "test", "cross_encoder": str(ce_dir),
                          "llm": llm_sample(args, idx, queries, test_ids, test_q, first, ce_scores, load_reranker)})
        return
    fusion, fusion_grid = choose_fusion(idx, queries, dev_ids, train_q, Fusion)
    first = {}
    t = time.perf_counter()
    for q in test_ids + dev_ids:
        first[q] = idx.search(queries[q], k=100, method="hybrid", fusion=fusion, per_doc=True)
    hybrid_ms = (time.perf_counter() - t) / len(first) * 1000

    ce = load_reranker(f"cross-encoder:{ce_dir}")
    cache = ScoreCache(ce_dir)
    t, cpu = time.perf_counter(), time.process_time()
    ce_scores = {q: cache.scores(ce.inner, q, queries[q], first[q][:max(DEPTHS)]) for q in test_ids + dev_ids}
    ce_seconds, ce_cpu = time.perf_counter() - t, time.process_time() - cpu
    if ce.inner.pairs:  # the speed of this run's scoring; a fully cached run reports the run that scored
        cache.data["rate"] = [ce.inner.pairs / ce_seconds, ce.inner.pairs / ce_cpu]
    cache.save()
    ce_rate = cache.data["rate"]

    def grid(ids, qrels):
        return {(kind, d, w): ndcg([rerank_ids(first[q], ce_scores[q], d, kind, w) for q in ids],
                                   [qrels[q] for q in ids])["ndcg@10"]["mean"]
                for kind in KINDS for d in DEPTHS for w in WEIGHTS}

    dev_grid = grid(dev_ids, train_q) if dev_ids else {}
    best = max(dev_grid, key=dev_grid.get) if dev_grid else ("rank", max(DEPTHS), 1.0)
    test_grid = grid(test_ids, test_q)
    chosen = {q: rerank_ids(first[q], ce_scores[q], best[1], best[0], best[2]) for q in test_ids}
    hybrid_test = ndcg([[h.doc_id for h in first[q]] for q in test_ids], [test_q[q] for q in test_ids])
    best_test = ndcg([chosen[q] for q in test_ids], [test_q[q] for q in test_ids])
    ce_only = {f"depth{d}": test_grid[("rank", d, 1.0)] for d in DEPTHS}
    from ladder.evaluation import bootstrap_ci
    from ladder.retrieval.ir_metrics import ndcg_at_k

    diff = [ndcg_at_k(chosen[q], test_q[q]) - ndcg_at_k([h.doc_id for h in first[q]], test_q[q]) for q in test_ids]
    lo, hi = bootstrap_ci(diff)
    gain = {"mean": round(sum(diff) / len(diff), 4), "ci95_paired": [round(lo, 4), round(hi, 4)]}

    result = {
        "dataset": str(folder), "split": "test", "n_queries": len(test_ids),
        "first_stage": {"method": "hybrid", "embedder": args.embedder, "fusion": fusion.to_dict(),
                        "fusion_holdout_ndcg@10": fusion_grid,
                        "ndcg@10": hybrid_test["ndcg@10"], "recall@100": hybrid_test["recall@100"],
                        "ms_per_query": round(hybrid_ms, 2), "index_open_seconds": round(index_s, 1)},
        "cross_encoder": {
            "folder": str(ce_dir), "trained": {k: meta.get(k) for k in ("pairs", "steps", "total_steps", "stopped_early",
                                                                         "train_seconds", "loss_first", "loss_last")},
            "train_config": meta.get("config"), "train_source": {k: v for k, v in meta.get("source", {}).items()
                                                                 if k != "holdout_query_ids"},
            "pairs_per_second": round(ce_rate[0], 1), "pairs_per_cpu_second": round(ce_rate[1], 1),
            "ms_per_query_at_depth": {d: round(d / ce_rate[0] * 1000, 1) for d in DEPTHS},
            "test_ndcg@10_ce_only": ce_only,
            "chosen_on_train_holdout": {"blend": best[0], "depth": best[1], "ce_weight": best[2], "n_holdout_queries": len(dev_ids),
                                        "holdout_ndcg@10": dev_grid.get(best)},
            "test_ndcg@10_chosen": best_test["ndcg@10"], "test_gain_over_hybrid": gain, "test_mrr@10_chosen": best_test["mrr@10"],
            "test_grid_ndcg@10": {f"{b}_depth{d}_w{w}": v for (b, d, w), v in test_grid.items()},
        },
    }
    result["note"] = ("nDCG@10 means carry 95% bootstrap intervals (low, high). The hybrid fusion weights, the CE depth, "
                      "blend kind and weight are chosen on held-out TRAIN queries; the test grid is shown for information only.")
    write(args.name, result)  # the cross-encoder part is saved even if the slow LLM part is interrupted
    if not args.skip_llm:
        result["llm"] = llm_sample(args, idx, queries, test_ids, test_q, first, ce_scores, load_reranker)
        write(args.name, result)


def sample_ids(test_ids, n):
    return sorted(random.Random(0).sample(test_ids, min(n, len(test_ids))))


def llm_sample(args, idx, queries, test_ids, test_q, first, ce_scores, load_reranker) -> dict:
    """LLM rerankers on a seeded sample of test queries, next to hybrid and the CE on the same queries."""
    ids = sample_ids(test_ids, args.llm_queries)
    d = args.llm_depth
    base = [[h.doc_id for h in first[q]] for q in ids]
    qr = [test_q[q] for q in ids]
    out = {"n_queries": len(ids), "depth": d, "hybrid_ndcg@10": ndcg(base, qr)["ndcg@10"],
           "cross_encoder_ndcg@10": ndcg([rerank_ids(first[q], ce_scores[q], d, "rank", 1.0) for q in ids], qr)["ndcg@10"],
           "rerankers": []}
    models = {}
    for spec in args.llm.split(","):
        kind, _, name = spec.partition(":")
        model = models.get(name) or models.setdefault(name, load_model_threads(name, args.threads))
        rr = load_reranker(kind, model=model, **({"window": 5, "step": 3} if kind == "listwise" else {}))
        t = time.perf_counter()
        ranked = [[h.doc_id for h in rr.rerank(queries[q], first[q][:d])] + [h.doc_id for h in first[q][d:]]
                  for q in ids]
        wall = time.perf_counter() - t
        row = {"reranker": rr.name, "ndcg@10": ndcg(ranked, qr)["ndcg@10"], "pairs": rr.pairs,
               "pairs_per_second": round(rr.pairs / wall, 3), "seconds_per_query": round(wall / len(ids), 2),
               "tokens_in": rr.usage.tokens_in, "cpu_seconds": round(rr.usage.cpu_seconds, 1)}
        print(json.dumps(row), flush=True)
        out["rerankers"].append(row)
    return out


if __name__ == "__main__":
    main()

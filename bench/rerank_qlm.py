"""LLM rerankers on the hybrid first stage: query likelihood (qlm:) against pointwise yes/no, same model,
same queries, paired.

For each data set: the ladder hybrid index (BM25 + MiniLM, whole documents), top `--depth` reranked.
Every reranker scores the same fixed seeded subset of test queries (`--test-queries`, 0 = all). The
blend with the first stage (rank or score interpolation, `rerank.BLENDS`) is chosen WITHOUT test
labels: on `--holdout` sampled TRAIN queries where the data set has train qrels (SciFact), else the
fixed default `qlm.DEFAULT_BLEND` (itself chosen on SciFact train queries). Scores are cached per
(query, doc) under $LADDER_HOME/bench/, one file per data set, reranker and model (and backend and
dtype for QLM), so an interrupted run resumes and a deeper run scores only the pairs it lacks.
`pairs_scored` counts every timed scoring in the cache's history, a pair rescored in a later run
included; `pairs_per_second` is over all of them.

    python bench/rerank_qlm.py --dataset scifact --model smollm2-135m --rerankers qlm,pointwise --test-queries 50
    python bench/rerank_qlm.py --speed --model smollm2-135m     # pairs/s: llama.cpp, torch fp32, torch bf16; same pairs
"""
from __future__ import annotations

import argparse
import json
import os
import random
import time

from common import DATA, need_data, use_threads, write

os.environ.setdefault("HF_HUB_OFFLINE", "1")

DATASETS = {"scifact": ("beir", "scifact"), "msmarco-5k": ("beir", "msmarco-5k"), "squad": ("squad", "retrieval")}
WEIGHTS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)


class Cache:
    """(query id, doc id) -> score, one JSON file per (data set, reranker, model); saved after each query."""

    def __init__(self, name: str):
        from ladder.home import ladder_home

        self.path = ladder_home() / "bench" / f"{name}.json"
        self.data = json.loads(self.path.read_text()) if self.path.exists() else {"scores": {}, "pairs": 0, "seconds": 0.0}

    def get(self, qid: str, hits) -> list[float | None]:
        """The cached score of each hit, None where the pair was never scored (a deeper run scores only those)."""
        return [self.data["scores"].get(f"{qid}\t{h.doc_id}") for h in hits]

    def put(self, qid: str, hits, scores, seconds: float, threads: int) -> None:
        self.data["scores"].update({f"{qid}\t{h.doc_id}": v for h, v in zip(hits, scores)})
        self.data["pairs"] += len(hits)
        self.data["seconds"] += seconds
        self.data["threads"] = sorted(set(self.data.get("threads", [])) | {threads})  # the timing's, over every run
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.data))
        tmp.replace(self.path)


def sample(ids: list[str], n: int, seed: int = 0) -> list[str]:
    return sorted(random.Random(seed).sample(sorted(ids), n)) if n and n < len(ids) else sorted(ids)


def make_scorer(kind: str, model_name: str, backend: str, dtype: str):
    """kind -> score(query, hits) -> list[float] (higher = more relevant)."""
    if kind == "qlm":
        from ladder.retrieval.qlm import QueryLikelihood, make_scorer as scorer

        r = QueryLikelihood(scorer(model_name, backend, dtype=dtype))
        return r.scores
    from ladder.retrieval.rerank import PointwiseLLM
    from common import load_model_threads

    from ladder.retrieval.qlm import MAX_WORDS

    return PointwiseLLM(load_model_threads(model_name, 1), max_words=MAX_WORDS).margins  # the same passage words as qlm


def score_all(cache: Cache, score, queries, first, ids, depth, label: str, threads: int) -> dict:
    out, t0 = {}, time.perf_counter()
    for n, q in enumerate(ids, 1):
        hits = first[q][:depth]
        got = cache.get(q, hits)
        todo = [h for h, s in zip(hits, got) if s is None]
        if todo:
            t = time.perf_counter()
            new = score(queries[q], todo)
            cache.put(q, todo, new, time.perf_counter() - t, threads)
            fresh = iter(new)
            got = [next(fresh) if s is None else s for s in got]
        out[q] = got
        if n % 10 == 0:
            print(f"{label}: {n}/{len(ids)} queries, {time.perf_counter() - t0:.0f}s", flush=True)
    return out


def ranked(first_hits, scores, depth, kind, w) -> list[str]:
    from ladder.retrieval.hit import Hit
    from ladder.retrieval.rerank import BLENDS

    head = first_hits[:depth]
    after = sorted((Hit(h.doc_id, s, h.text, h.title) for h, s in zip(head, scores)), key=lambda h: -h.score)
    return [h.doc_id for h in BLENDS[kind](head, after, w)] + [h.doc_id for h in first_hits[depth:]]


def per_query(runs: dict[str, list[str]], qrels) -> list[float]:
    from ladder.retrieval.ir_metrics import ndcg_at_k

    return [ndcg_at_k(runs[q], qrels[q]) for q in sorted(runs)]


def headroom(runs: dict[str, list[str]], qrels, depth: int) -> dict:
    """What reranking the top `depth` can reach: the first stage's recall there, and nDCG@10 with those
    candidates in the perfect order (the rest unchanged)."""
    from ladder.retrieval.ir_metrics import recall_at_k

    perfect = {q: sorted(d[:depth], key=lambda x: -qrels[q].get(x, 0)) + d[depth:] for q, d in runs.items()}
    return {f"recall@{depth}": ci(recall_at_k(runs[q], qrels[q], depth) for q in sorted(runs)),
            f"ndcg@10_best_order_of_top_{depth}": ci(per_query(perfect, qrels))}


def ci(values) -> dict:
    from ladder.retrieval.ir_metrics import mean_ci

    m, lo, hi = mean_ci(list(values))
    return {"mean": round(m, 4), "ci95": [round(lo, 4), round(hi, 4)]}


def choose_blend(first, scores, qrels, ids, depth) -> tuple[tuple[str, float], dict]:
    grid = {}
    for kind in ("rank", "score"):
        for w in WEIGHTS:
            runs = {q: ranked(first[q], scores[q], depth, kind, w) for q in ids}
            grid[(kind, w)] = sum(per_query(runs, qrels)) / len(ids)
    best = max(grid, key=lambda k: (round(grid[k], 6), -k[1]))
    return best, {f"{k}:{w}": round(v, 4) for (k, w), v in grid.items()}


def run(args) -> None:
    from ladder.models.bundled import BUNDLED
    from ladder.models.hf import inference_dtype
    from ladder.retrieval.chunk import Chunking
    from ladder.retrieval.evaluate import load_qrels, load_queries
    from ladder.retrieval.index import open_index
    from ladder.retrieval.qlm import DEFAULT_BLEND

    folder = need_data(*DATASETS[args.dataset])
    queries = load_queries(folder)
    test_q = load_qrels(folder, "test")
    test_ids = sample([q for q in test_q if q in queries], args.test_queries, args.seed)
    train_q = load_qrels(folder, "train") if (folder / "qrels" / "train.tsv").exists() else {}
    dev_ids = sample([q for q in train_q if q in queries], args.holdout, args.seed) if train_q and args.holdout else []
    assert not set(dev_ids) & set(test_ids)
    idx = open_index(folder, chunking=Chunking("none"), embedder="minilm")
    first = {q: idx.search(queries[q], k=100, method="hybrid", per_doc=True) for q in test_ids + dev_ids}
    base = {q: [h.doc_id for h in first[q]] for q in test_ids}
    base_scores = per_query(base, test_q)
    result = {"dataset": args.dataset, "folder": str(folder.relative_to(DATA.parent.parent)) if DATA.parent.parent in folder.parents else str(folder),
              "split": "test", "n_queries": len(test_ids), "query_seed": args.seed, "depth": args.depth,
              "threads": args.threads, "qlm_dtype": str(inference_dtype(args.dtype)).replace("torch.", "") if args.backend == "torch" else "gguf",
              "model": args.model, "model_sha256": BUNDLED[args.model].sha256 if args.model in BUNDLED else None,
              "first_stage": {"method": "hybrid", "embedder": "minilm", "ndcg@10": ci(base_scores),
                              **headroom(base, test_q, args.depth)}, "rerankers": []}
    for kind in args.rerankers.split(","):
        label = f"{args.dataset}-{kind}-{args.model}" + (f"-{args.backend}" if kind == "qlm" else "")  # not the depth:
        # a pair's score does not depend on it, so a deeper run scores only the pairs a shallower one did not
        if kind == "qlm" and result["qlm_dtype"] not in ("float32", "gguf"):
            label += f"-{result['qlm_dtype']}"  # fp32 scores (the earlier runs) stay apart
        cache = Cache(label)
        score = _Lazy(lambda: make_scorer(kind, args.model, args.backend, args.dtype))
        threads = args.threads if kind == "qlm" else 1  # pointwise runs llama.cpp on one thread (make_scorer)
        dev = score_all(cache, score, queries, first, dev_ids, args.depth, label + " holdout", threads) if dev_ids else {}
        test = score_all(cache, score, queries, first, test_ids, args.depth, label + " test", threads)
        if dev_ids:
            (bk, bw), grid = choose_blend(first, dev, train_q, dev_ids, args.depth)
            how = {"chosen_on": f"{len(dev_ids)} sampled TRAIN queries", "holdout_grid_ndcg@10": grid}
        else:
            (bk, bw), how = DEFAULT_BLEND, {"chosen_on": "fixed default qlm.DEFAULT_BLEND (chosen on SciFact train queries)"}
        alone = per_query({q: ranked(first[q], test[q], args.depth, "rank", 1.0) for q in test_ids}, test_q)
        blended = per_query({q: ranked(first[q], test[q], args.depth, bk, bw) for q in test_ids}, test_q)
        gains = [a - b for a, b in zip(blended, base_scores)]
        row = {"reranker": f"{kind}:{args.model}", "backend": args.backend if kind == "qlm" else "llamacpp",
               "alone_ndcg@10": ci(alone), "alone_gain_over_hybrid": ci(a - b for a, b in zip(alone, base_scores)),
               "blend": {"kind": bk, "weight": bw, **how},
               "blended_ndcg@10": ci(blended), "blended_gain_over_hybrid": ci(gains),
               "pairs_scored": cache.data["pairs"], "timed_on_threads": cache.data.get("threads", "not recorded"),
               "pairs_per_second": round(cache.data["pairs"] / max(cache.data["seconds"], 1e-9), 3),
               "seconds_per_query": round(cache.data["seconds"] / max(cache.data["pairs"], 1) * args.depth, 2)}
        if args.fresh_after:  # the queries an earlier, smaller run of the same seed never saw: a replication
            seen = set(sample([q for q in test_q if q in queries], args.fresh_after, args.seed))
            fresh = [g for q, g in zip(sorted(test_ids), gains) if q not in seen]
            row["gain_on_queries_not_in_first_" + str(args.fresh_after)] = {"n": len(fresh), **ci(fresh)}
        row["per_query"] = {q: [round(b, 4), round(a, 4)] for q, b, a in zip(sorted(test_ids), base_scores, blended)}
        print(json.dumps({k: v for k, v in row.items() if k != "per_query"}), flush=True)
        result["rerankers"].append(row)
        write(args.name or f"rerank_qlm_{args.dataset}_{args.model}", result)


class _Lazy:
    """Loads the model only when a (query, doc) pair is missing from the cache."""

    def __init__(self, make):
        self.make, self.fn = make, None

    def __call__(self, *a):
        self.fn = self.fn or self.make()
        return self.fn(*a)


def speed(args) -> None:
    """pairs/s of the QLM backends on the same SciFact pairs: llama.cpp (4-bit GGUF), torch fp32 and
    torch bf16 (`hf.inference_dtype`), each alone on `BENCH_THREADS` threads; and their score gaps."""
    from ladder.models.bundled import BUNDLED
    from ladder.models.hf import cpu_has_bf16
    from ladder.retrieval.hit import Hit
    from ladder.retrieval.qlm import make_scorer as scorer, qlm_prefix

    folder = need_data("beir", "scifact")
    rows = [json.loads(l) for _, l in zip(range(args.speed_pairs), open(folder / "corpus.jsonl"))]
    prefixes = [qlm_prefix(Hit(r["_id"], 0.0, r["text"], r["title"])) for r in rows]
    query = " " + json.loads(next(open(folder / "queries.jsonl")))["text"]
    out, scores = {}, {}
    for name, backend, dtype in (("llamacpp", "llamacpp", "auto"), ("torch_fp32", "torch", "fp32"), ("torch_bf16", "torch", "bf16")):
        s = scorer(args.model, backend, dtype=dtype)
        s.mean_logprobs(prefixes[:1], query)  # load and warm up
        t = time.perf_counter()
        scores[name] = s.mean_logprobs(prefixes, query)
        out[name] = {"pairs_per_second": round(len(prefixes) / (time.perf_counter() - t), 3)}
        del s

    def gap(a: str, b: str) -> float:
        return round(max(abs(x - y) for x, y in zip(scores[a], scores[b])), 4)

    def spearman(a: str, b: str) -> float:  # the passages are unrelated to the query: close scores, ranks flip
        from scipy.stats import spearmanr

        return round(float(spearmanr(scores[a], scores[b]).statistic), 4)

    fp32 = out["torch_fp32"]["pairs_per_second"]
    write(args.name or f"rerank_qlm_speed_{args.model}", {
        "model": args.model, "model_sha256": BUNDLED[args.model].sha256, "pairs": len(prefixes), "threads": args.threads,
        "cpu_has_native_bf16": cpu_has_bf16(), "backends": out,
        "torch_fp32_over_llamacpp": round(fp32 / out["llamacpp"]["pairs_per_second"], 2),
        "torch_bf16_over_fp32": round(out["torch_bf16"]["pairs_per_second"] / fp32, 2),
        "max_abs_gap_mean_logprob": {"llamacpp_vs_fp32": gap("llamacpp", "torch_fp32"), "bf16_vs_fp32": gap("torch_bf16", "torch_fp32")},
        "spearman": {"llamacpp_vs_fp32": spearman("llamacpp", "torch_fp32"), "bf16_vs_fp32": spearman("torch_bf16", "torch_fp32")},
        "scores": {k: [round(x, 4) for x in v] for k, v in scores.items()}})


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dataset", choices=list(DATASETS), default="scifact")
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--rerankers", default="qlm,pointwise")
    ap.add_argument("--backend", default="torch", help="qlm backend: torch or llamacpp")
    ap.add_argument("--dtype", default="auto", help="torch qlm weights: auto (bf16 where the CPU has it), bf16, fp32")
    ap.add_argument("--test-queries", type=int, default=50, help="seeded subset of test queries (0 = all)")
    ap.add_argument("--holdout", type=int, default=40, help="sampled train queries to choose the blend on (if train qrels exist)")
    ap.add_argument("--depth", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--name", default="")
    ap.add_argument("--fresh-after", type=int, default=0,
                    help="also report the gain on the queries not in the seeded N-query sample (an earlier run's)")
    ap.add_argument("--speed", action="store_true")
    ap.add_argument("--speed-pairs", type=int, default=16)
    args = ap.parse_args()
    if args.fresh_after and args.test_queries and args.fresh_after >= args.test_queries:
        ap.error(f"--fresh-after {args.fresh_after} leaves no fresh queries in --test-queries {args.test_queries}")
    args.threads = use_threads()
    speed(args) if args.speed else run(args)


if __name__ == "__main__":
    main()

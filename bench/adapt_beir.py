"""Label-free adaptation (`ladder adapt`) on a BEIR-layout set: what the adapted embedder and
cross-encoder buy over plain hybrid, paired, on a fixed seeded subset of test queries.

Stage `adapt` runs the library's `adapt()` on the set's whole-document index (as `ladder adapt
FOLDER` does; generation is cached, so a run cut by `--max-minutes`/timeout resumes); it never
opens the qrels. Stage `eval` scores, on the same queries: hybrid (the index as built), the adapted
index's hybrid and dense (adapted embedder), and the adapted index + the adapted cross-encoder at
the blend chosen on held-out synthetic queries (depth 20). Test qrels are read only here, to score.

    python bench/adapt_beir.py --dataset squad --queries 1000 --stage adapt
    python bench/adapt_beir.py --dataset squad --stage eval --test-queries 300
    python bench/adapt_beir.py --dataset squad --queries 1000 --stage adapt --teacher qlm:qwen2.5-coder-0.5b --no-embedder

`--teacher` trains the cross-encoder on a teacher's soft labels (a distilled reranker, as `ladder
adapt --teacher`); `--no-embedder` trains only the cross-encoder, over the plain index.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import time

from common import need_data, use_threads, write

os.environ.setdefault("HF_HUB_OFFLINE", "1")
DATASETS = {"scifact": ("beir", "scifact"), "msmarco-5k": ("beir", "msmarco-5k"), "squad": ("squad", "retrieval")}


def ci(values) -> dict:
    from ladder.retrieval.ir_metrics import mean_ci

    m, lo, hi = mean_ci(list(values))
    return {"mean": round(m, 4), "ci95": [round(lo, 4), round(hi, 4)]}


def base_index(folder):
    from ladder.retrieval.chunk import Chunking
    from ladder.retrieval.index import open_index

    return open_index(folder, chunking=Chunking("none"), embedder="minilm")


def stage_adapt(args, folder) -> None:
    from ladder.retrieval.adapt import AdaptConfig, adapt

    idx = base_index(folder)
    cfg = AdaptConfig(n_queries=args.queries, llm=args.llm, seed=args.seed, reranker_minutes=args.reranker_minutes,
                      embedder_epochs=args.embedder_epochs, threads=args.threads,
                      embedder=not (args.generate_only or args.no_embedder), reranker=not args.generate_only,
                      generate_minutes=args.generate_minutes, teacher=args.teacher,
                      teacher_candidates=args.teacher_candidates)
    last = [0.0]

    def progress(stage, done, total):
        if time.perf_counter() - last[0] > 60 or done == total:
            last[0] = time.perf_counter()
            print(f"{stage}: {done}/{total}", flush=True)

    m = adapt(idx, idx.path, cfg, progress=progress)
    print(json.dumps(m, indent=1))


def stage_eval(args, folder) -> None:
    from ladder.retrieval.adapt import load_adapted
    from ladder.retrieval.evaluate import load_qrels, load_queries
    from ladder.retrieval.ir_metrics import ndcg_at_k
    from ladder.retrieval.protocol import RERANK_DEPTH

    idx = base_index(folder)
    a = load_adapted(idx.path, idx)
    queries, qrels = load_queries(folder), load_qrels(folder, "test")
    ids = sorted(q for q in qrels if q in queries)
    if args.test_queries and args.test_queries < len(ids):
        ids = sorted(random.Random(args.seed).sample(ids, args.test_queries))
    texts = [queries[q] for q in ids]
    runs = {"hybrid": idx.search_many(texts, k=100, method="hybrid", per_doc=True)}
    first, ce = "hybrid", "hybrid+ce"
    if a.manifest["config"]["embedder"]:
        runs["adapted_dense"] = a.index.search_many(texts, k=100, method="dense", per_doc=True)
        runs["adapted_hybrid"] = a.index.search_many(texts, k=100, method="hybrid", per_doc=True)
        first, ce = "adapted_hybrid", "adapted_hybrid+ce"
    t = time.perf_counter()
    if a.reranker is not None:
        runs[ce] = [a.reranker.rerank(q, hits[:RERANK_DEPTH]) + hits[RERANK_DEPTH:] for q, hits in zip(texts, runs[first])]
    ce_s = time.perf_counter() - t
    scores = {name: [ndcg_at_k([h.doc_id for h in hits], qrels[q]) for q, hits in zip(ids, run)] for name, run in runs.items()}
    base = scores["hybrid"]
    rows = {name: {"ndcg@10": ci(s), "gain_over_hybrid": ci(x - y for x, y in zip(s, base))} for name, s in scores.items()}
    out = {"dataset": args.dataset, "split": "test", "n_queries": len(ids), "query_seed": args.seed, "threads": args.threads,
           "adapted": a.manifest, "results": rows}
    if a.reranker is not None:
        out["cross_encoder"] = {"pairs_per_second": round(a.reranker.pairs / ce_s, 1),
                                "seconds_per_query": round(ce_s / len(ids), 3), "depth": RERANK_DEPTH}
    write(args.name or f"adapt_{args.dataset}", out)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dataset", choices=list(DATASETS), default="squad")
    ap.add_argument("--stage", choices=["adapt", "eval"], required=True)
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--llm", default="smollm2-135m")
    ap.add_argument("--reranker-minutes", type=float, default=12.0)
    ap.add_argument("--embedder-epochs", type=float, default=1.0)
    ap.add_argument("--generate-minutes", type=float, default=0.0, help="generation budget of this run (0 = none)")
    ap.add_argument("--generate-only", action="store_true", help="stop after the questions (cached; the next run trains)")
    ap.add_argument("--no-embedder", action="store_true", help="train only the cross-encoder (on the plain index)")
    ap.add_argument("--teacher", default="", help="label the pairs with this reranker (qlm:<model>, pointwise:<model>): a distilled cross-encoder")
    ap.add_argument("--teacher-candidates", type=int, default=8, help="with --teacher: passages labelled per question")
    ap.add_argument("--test-queries", type=int, default=300)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--name", default="")
    args = ap.parse_args()
    args.threads = use_threads()
    folder = need_data(*DATASETS[args.dataset])
    stage_adapt(args, folder) if args.stage == "adapt" else stage_eval(args, folder)


if __name__ == "__main__":
    main()

"""A general cross-encoder, leave-one-dataset-out: trained on the labelled retrieval sets in
../shared/data EXCEPT the one it is scored on, to show what a user gets with no in-domain data.

For a held-out set H (scifact, msmarco-5k or squad):
1. Training data: every labelled query of the OTHER sets (all their qrels splits: none of them is
   H's), `--per-source` seeded queries from each, merged into one BEIR-layout folder under /tmp
   (ids prefixed by the set's name) whose only split is `train`. H is never opened here.
2. Hard negatives: BM25 over the merged corpus (top `--pool`, relevant ones removed); listwise
   loss (one relevant + 7 negatives per group), from the bundled MiniLM-L6, for `--train-minutes`.
3. Blend with the first stage: tuned on `--holdout` of the merged training queries (never H's).
4. Scored on H's test queries (`--test-queries`, seeded; 0 = all): hybrid top 20 (`protocol.RERANK_DEPTH`) reranked, nDCG@10
   with 95% CI and the paired gain over plain hybrid.

    python bench/general_reranker.py --held-out scifact
    python bench/general_reranker.py --held-out squad --test-queries 300
"""
from __future__ import annotations

import argparse
import json
import os
import random
import time
from pathlib import Path

from common import need_data, use_threads, write

os.environ.setdefault("HF_HUB_OFFLINE", "1")
SETS = {"scifact": ("beir", "scifact"), "msmarco-5k": ("beir", "msmarco-5k"), "squad": ("squad", "retrieval")}
WORK = Path("/tmp/ladder-general")


def ci(values) -> dict:
    from ladder.retrieval.ir_metrics import mean_ci

    m, lo, hi = mean_ci(list(values))
    return {"mean": round(m, 4), "ci95": [round(lo, 4), round(hi, 4)]}


def merged_folder(held_out: str, per_source: int, seed: int) -> tuple[Path, dict]:
    """The other sets' labelled queries (all splits), their corpora, as one BEIR folder with a train split."""
    from ladder.retrieval.train_data import read_qrels

    out = WORK / f"without-{held_out}"
    (out / "qrels").mkdir(parents=True, exist_ok=True)
    corpus, queries, qrels, used = [], [], [], {}
    for name, parts in SETS.items():
        if name == held_out:
            continue
        folder = need_data(*parts)
        rel: dict[str, set[str]] = {}
        for split in sorted((folder / "qrels").glob("*.tsv")):
            for q, docs in read_qrels(split).items():
                rel.setdefault(q, set()).update(docs)
        qids = sorted(rel)
        qids = sorted(random.Random(seed).sample(qids, per_source)) if per_source < len(qids) else qids
        used[name] = {"queries": len(qids), "splits": sorted(p.stem for p in (folder / "qrels").glob("*.tsv"))}
        text = {json.loads(line)["_id"]: json.loads(line)["text"] for line in open(folder / "queries.jsonl", encoding="utf-8")}
        queries += [{"_id": f"{name}/{q}", "text": text[q]} for q in qids]
        qrels += [f"{name}/{q}\t{name}/{d}\t1" for q in qids for d in sorted(rel[q])]
        for line in open(folder / "corpus.jsonl", encoding="utf-8"):
            row = json.loads(line)
            corpus.append({"_id": f"{name}/{row['_id']}", "title": row.get("title", ""), "text": row.get("text", "")})
    (out / "corpus.jsonl").write_text("".join(json.dumps(r) + "\n" for r in corpus), encoding="utf-8")
    (out / "queries.jsonl").write_text("".join(json.dumps(r) + "\n" for r in queries), encoding="utf-8")
    (out / "qrels" / "train.tsv").write_text("query-id\tcorpus-id\tscore\n" + "\n".join(qrels) + "\n", encoding="utf-8")
    return out, used


def capped(groups: list, seed: int, per_query: int = 3, min_negatives: int = 3) -> list:
    """At most `per_query` groups (relevant documents) per query, each with enough negatives: MS MARCO's
    graded qrels judge hundreds of documents relevant for some queries, which would otherwise swamp the
    other sets, and leave BM25's top results with no non-relevant document to contrast."""
    rng, by_query = random.Random(seed), {}
    for g in groups:
        if len(g.negatives) >= min_negatives:
            by_query.setdefault(g.qid, []).append(g)
    out = []
    for qid in sorted(by_query):
        run = by_query[qid]
        out += rng.sample(run, per_query) if len(run) > per_query else run
    return out


def train(args, folder: Path) -> tuple[Path, dict]:
    from ladder.retrieval import train_data as td
    from ladder.retrieval import train_reranker as tr

    out = WORK / f"ce-without-{args.held_out}"
    groups, held = td.groups_from_beir(folder, "train", args.pool, None, args.seed, args.holdout, "bm25")
    groups = capped(groups, args.seed)
    cfg = tr.TrainConfig(loss="listwise", group_size=8, batch_size=32, epochs=args.epochs, seed=args.seed,
                         time_budget=60 * args.train_minutes, threads=args.threads)
    last = [0.0]

    def progress(done, total, loss):
        if time.perf_counter() - last[0] > 60:
            last[0] = time.perf_counter()
            print(f"train: step {done}/{total} loss {loss:.3f}", flush=True)

    meta = tr.train(groups, out, cfg, progress, source={"merged": str(folder), "labels": "other sets' qrels"})
    meta["groups"] = len(groups)
    meta["blend_tuning"] = tr.tune_blend(out, folder, held, "train", method="hybrid")
    return out, meta


def score(args, model_dir: Path) -> dict:
    from ladder.retrieval.chunk import Chunking
    from ladder.retrieval.evaluate import load_qrels, load_queries
    from ladder.retrieval.index import open_index
    from ladder.retrieval.ir_metrics import ndcg_at_k
    from ladder.retrieval.protocol import RERANK_DEPTH
    from ladder.retrieval.rerank import CrossEncoder

    folder = need_data(*SETS[args.held_out])
    queries, qrels = load_queries(folder), load_qrels(folder, "test")
    ids = sorted(q for q in qrels if q in queries)
    if args.test_queries and args.test_queries < len(ids):
        ids = sorted(random.Random(args.seed).sample(ids, args.test_queries))
    idx = open_index(folder, chunking=Chunking("none"), embedder="minilm")
    first = idx.search_many([queries[q] for q in ids], k=100, method="hybrid", per_doc=True)
    ce = CrossEncoder(model_dir)
    t = time.perf_counter()
    reranked = [ce.rerank(queries[q], hits[:RERANK_DEPTH]) + hits[RERANK_DEPTH:] for q, hits in zip(ids, first)]
    seconds = time.perf_counter() - t
    base = [ndcg_at_k([h.doc_id for h in hits], qrels[q]) for q, hits in zip(ids, first)]
    new = [ndcg_at_k([h.doc_id for h in hits], qrels[q]) for q, hits in zip(ids, reranked)]
    return {"n_queries": len(ids), "hybrid_ndcg@10": ci(base), "general_ce_ndcg@10": ci(new),
            "gain_over_hybrid": ci(a - b for a, b in zip(new, base)),
            "blend": {"kind": ce.blend_kind, "weight": ce.blend},
            "pairs_per_second": round(RERANK_DEPTH * len(ids) / seconds, 1), "seconds_per_query": round(seconds / len(ids), 3)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--held-out", choices=list(SETS), required=True)
    ap.add_argument("--per-source", type=int, default=1500, help="seeded labelled queries taken from each other set")
    ap.add_argument("--pool", type=int, default=30)
    ap.add_argument("--holdout", type=int, default=80, help="merged training queries kept to tune the blend")
    ap.add_argument("--train-minutes", type=float, default=8.0)
    ap.add_argument("--epochs", type=float, default=1.0)
    ap.add_argument("--test-queries", type=int, default=300)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    args.threads = use_threads()
    t0 = time.perf_counter()
    folder, used = merged_folder(args.held_out, args.per_source, args.seed)
    model_dir, meta = train(args, folder)
    result = score(args, model_dir)
    write(f"general_reranker_{args.held_out}", {
        "held_out": args.held_out, "threads": args.threads, "trained_on": used, "labels_of_held_out_read": "test qrels, to score only",
        "recipe": {"loss": "listwise", "group_size": 8, "batch_size": 32, "mined_with": "bm25", "pool": args.pool,
                   "train_minutes": args.train_minutes, "epochs": args.epochs, "base": "bundled MiniLM-L6"},
        "training": {k: meta.get(k) for k in ("groups", "pairs", "steps", "train_seconds", "stopped_early", "loss_first", "loss_last")},
        "blend_tuning": {k: meta["blend_tuning"][k] for k in ("kind", "weight", "n_queries", "gain_over_retriever")},
        "test": result, "seconds_total": round(time.perf_counter() - t0, 1)})


if __name__ == "__main__":
    main()

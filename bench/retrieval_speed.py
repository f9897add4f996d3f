"""Retrieval speed, each next to a raw baseline measured side by side in the same process.

Claims (issue 3):
- embedding throughput >= 0.9 x raw sentence-transformers `encode` on the same texts;
- BM25 query throughput >= 0.9 x raw bm25s (tokenize + retrieve) on the same index and queries;
- a BM25 + dense (hybrid) query on the 10k Wikipedia articles in <= 30 ms p50, without rerank.

The machine is shared (2 cores); the load average is recorded with the numbers. Raw and ours
alternate (raw, ours, raw, ours, ...) and each side keeps its best round, so load spikes hit both.

    python bench/retrieval_speed.py [--index /tmp/wiki_idx]   # -> bench/results/retrieval_speed.json
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

from common import need_data, write


def best_of(rounds: int, fns: dict) -> dict:
    times = {name: [] for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            t = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t)
    return {name: min(ts) for name, ts in times.items()}


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--index", default=None, help="an already built 'ladder index wikipedia' folder (else built here)")
    ap.add_argument("--embed-texts", type=int, default=600)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--latency-only", action="store_true", help="re-measure query latency only, keep the rest of the JSON")
    args = ap.parse_args()
    wiki = need_data("wikipedia", "vital10k_en_summaries.jsonl")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    import bm25s
    import Stemmer

    from ladder.retrieval.dense import embed, load_embedder
    from ladder.retrieval.index import Index, build_index, load_corpus

    rows = [json.loads(line) for line in open(wiki, encoding="utf-8")]
    out: dict = {"load_average_start": os.getloadavg()}

    # -- index: build (or reuse) and load -----------------------------------------------------------
    if args.index and (Path(args.index) / "manifest.json").is_file():
        path = Path(args.index)
        out["index_build"] = {"reused": str(path)}
    else:
        path = Path("/tmp/ladder_bench_wiki_idx")
        t = time.perf_counter()
        build_index(load_corpus("wikipedia"), path, progress=True)
        out["index_build"] = {"seconds": round(time.perf_counter() - t, 1)}
    t = time.perf_counter()
    idx = Index.load(path)
    out["index_load_seconds"] = round(time.perf_counter() - t, 3)
    out["index"] = {k: idx.manifest[k] for k in ("n_docs", "n_passages", "chunking", "embedder")}

    if args.latency_only:
        out = {**json.loads((Path(__file__).parent / "results" / "retrieval_speed.json").read_text()), **out}
        for k in ("bench", "when", "machine"):
            out.pop(k, None)
        return latency(idx, [r["description"] or r["title"] for r in rows][:2000], args, out)

    # -- embedding throughput: same texts, same batch size ------------------------------------------
    texts = [f"{p.title}\n{p.text}" for p in idx.passages[: args.embed_texts]]
    st = load_embedder()
    embed(texts[:64])  # warm up both paths
    st.encode(texts[:64], batch_size=64, normalize_embeddings=True)
    t = best_of(3, {
        "raw_sentence_transformers": lambda: st.encode(texts, batch_size=64, normalize_embeddings=True,
                                                       convert_to_numpy=True, show_progress_bar=False),
        "ladder_embed": lambda: embed(texts, batch_size=64),
    })
    out["embedding"] = {"texts": len(texts), **{f"{k}_texts_per_s": round(len(texts) / v, 1) for k, v in t.items()},
                        "ratio": round(t["raw_sentence_transformers"] / t["ladder_embed"], 3), "claim": ">= 0.9"}

    # -- BM25 query throughput: raw bm25s on the same index arrays and queries ----------------------
    queries = [r["description"] or r["title"] for r in rows][:2000]
    raw = idx.bm25.model  # the very bm25s.BM25 object the index loaded: same arrays
    stem = Stemmer.Stemmer("english")

    def raw_batch():
        raw.retrieve(bm25s.tokenize(queries, stopwords="en", stemmer=stem, return_ids=False, show_progress=False),
                     k=10, show_progress=False, n_threads=0)

    def raw_single():
        for q in queries[:300]:
            raw.retrieve(bm25s.tokenize([q], stopwords="en", stemmer=stem, return_ids=False, show_progress=False),
                         k=10, show_progress=False, n_threads=0)

    def ours_single():
        for q in queries[:300]:
            idx.search(q, k=10, method="bm25")

    t = best_of(7, {"raw_bm25s": raw_batch, "ladder_search_many": lambda: idx.search_many(queries, k=10, method="bm25"),
                    "raw_bm25s_one_by_one": raw_single, "ladder_search_one_by_one": ours_single})
    out["bm25_queries"] = {
        "queries_batch": len(queries), "queries_single": 300,
        **{f"{k}_q_per_s": round((len(queries) if "one_by_one" not in k else 300) / v, 1) for k, v in t.items()},
        "ratio_batch": round(t["raw_bm25s"] / t["ladder_search_many"], 3),
        "ratio_one_by_one": round(t["raw_bm25s_one_by_one"] / t["ladder_search_one_by_one"], 3),
        "claim": ">= 0.9 (Index returns Hits with text and title; raw returns positions)",
    }

    latency(idx, queries, args, out)


def latency(idx, queries, args, out) -> None:
    """Per-query latency on the 10k articles (single queries, as a user searches)."""
    from ladder.retrieval.dense import embed, load_embedder

    st = load_embedder()
    qs = queries[2000 - args.queries:]
    lat = {}
    for method in ("bm25", "dense", "hybrid"):
        idx.search(qs[0], k=10, method=method)
        ms, cpu = [], []
        for q in qs:
            t0, c0 = time.perf_counter(), time.process_time()
            idx.search(q, k=10, method=method)
            ms.append((time.perf_counter() - t0) * 1000)
            cpu.append((time.process_time() - c0) * 1000)
        # cpu_p50: CPU time the query used (all threads); what the wall time would be on an idle core
        lat[method] = {"p50": round(statistics.median(ms), 2), "p95": round(pct(ms, 95), 2),
                       "cpu_p50": round(statistics.median(cpu), 2)}
    # the query embedding alone, raw (default threads) next to ours (one thread for a single text)
    q_raw, q_ours = [], []
    for q in qs[:100]:
        t0 = time.perf_counter()
        st.encode([q], normalize_embeddings=True, show_progress_bar=False)
        q_raw.append((time.perf_counter() - t0) * 1000)
        t0 = time.perf_counter()
        embed([q])
        q_ours.append((time.perf_counter() - t0) * 1000)
    out["query_latency_ms"] = {**lat, "query_embedding_raw_p50": round(statistics.median(q_raw), 2),
                               "query_embedding_ladder_p50": round(statistics.median(q_ours), 2),
                               "queries": len(qs), "claim": "hybrid p50 <= 30 ms", "met": lat["hybrid"]["p50"] <= 30}
    out["load_average_end"] = os.getloadavg()
    write("retrieval_speed", out)


if __name__ == "__main__":
    main()

"""What the synthetic questions of a `ladder adapt` run are worth before any training: how many are
usable, duplicates, or fail the round trip, and how fast they were written. Reads the run's
`queries.jsonl` (the generation cache) and re-runs the library's filter against the index; it
writes nothing beside the index and reads no qrels.

    python bench/adapt_questions.py --dataset squad
"""
from __future__ import annotations

import argparse
import json
import statistics

from adapt_beir import DATASETS, base_index
from common import need_data, write


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dataset", choices=list(DATASETS), default="squad")
    ap.add_argument("--top-k", type=int, default=20)
    args = ap.parse_args()
    from ladder.models.bundled import BUNDLED
    from ladder.retrieval.adapt import QUERIES, adapted_dir, filter_queries

    folder = need_data(*DATASETS[args.dataset])
    idx = base_index(folder)
    rows = [json.loads(line) for line in (adapted_dir(idx.path) / QUERIES).read_text().splitlines() if line.strip()]
    for r in rows:
        p = idx.passages[r["pos"]]
        r["text"], r["title"] = p.text, p.title
    rankings = idx.search_many([r["query"] or "-" for r in rows], k=args.top_k, method="hybrid")
    filter_queries(rows, rankings, args.top_k)
    secs = [r["seconds"] for r in rows]
    llm = {r["llm"] for r in rows}
    names = [n for n, b in BUNDLED.items() if b.sha256 in llm]
    write(f"adapt_{args.dataset}_questions", {
        "dataset": args.dataset, "llm": names, "llm_sha256": sorted(llm), "passages_with_a_question": len(rows),
        "usable": sum(1 for r in rows if r["query"]), "duplicates": sum(r["reason"] == "duplicate" for r in rows),
        "failed_round_trip": sum(r["reason"].startswith("source not") for r in rows),
        "kept": sum(r["kept"] for r in rows), "round_trip_top_k": args.top_k,
        "source_rank_1": sum(r["rank"] == 1 for r in rows),
        "seconds_per_question": {"median": round(statistics.median(secs), 2), "mean": round(statistics.mean(secs), 2),
                                 "p90": round(sorted(secs)[int(0.9 * len(secs))], 2)},
        "questions_per_minute_at_median": round(60 / statistics.median(secs), 1),
        "questions_per_minute_overall": round(60 * len(secs) / sum(secs), 1),
        "examples_kept": [r["query"] for r in rows if r["kept"]][:8],
        "examples_dropped": [(r["query"], r["reason"]) for r in rows if not r["kept"]][:8],
        "note": ("written on one llama.cpp thread while other jobs shared the 2 cores; before commit 765ea07 prompt "
                 "reading used 2 spin-waiting threads, so the slow tail (p90) is mostly contention"),
    })


if __name__ == "__main__":
    main()

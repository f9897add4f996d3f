"""Retrieval quality beyond SciFact: SQuAD paragraphs and an MS MARCO sample, every method.

Uses `evaluate_retrieval` (what `ladder eval-retrieval` runs): whole-document
index, nDCG@10 / Recall@100 / MRR@10 with 95% bootstrap CIs over queries, and
single-query latency p50/p95 on the first 100 queries. Fusion settings are the
index defaults chosen on SciFact train (bench/retrieval_scifact.py); nothing
here is tuned on these sets.

    python bench/retrieval_beir_other.py    # -> bench/results/retrieval_beir_other.json
"""
from __future__ import annotations

import os
import time

from common import DATA, need_data, write

SETS = {"squad/retrieval": ("squad", "retrieval"), "msmarco-5k": ("beir", "msmarco-5k")}
REFERENCE = {"squad/retrieval": "BM25 ~0.85 nDCG@10 (data README)", "msmarco-5k": "BM25 ~0.58 nDCG@10 (data README)"}


def main() -> None:
    need_data()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from ladder.retrieval.evaluate import evaluate_retrieval

    out = {"load_average_start": os.getloadavg(), "sets": {}}
    for name, parts in SETS.items():
        folder = DATA.joinpath(*parts)
        if not folder.exists():
            out["sets"][name] = {"skipped": f"{folder} not found"}
            continue
        t = time.perf_counter()
        rep = evaluate_retrieval(folder, methods=["bm25", "dense", "hybrid"], split="test", progress=True)
        rep["seconds"] = round(time.perf_counter() - t, 1)
        rep["reference"] = REFERENCE[name]
        out["sets"][name] = rep
    out["load_average_end"] = os.getloadavg()
    write("retrieval_beir_other", out)


if __name__ == "__main__":
    main()

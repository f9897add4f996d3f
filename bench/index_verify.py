"""What checking an index's file hashes costs at load: Index.load with and without verification on the
Wikipedia corpus (10,033 articles), medians of 9 alternating runs, plus the hashing alone.

The index is built with DummyEmbedder(384) vectors: the same files and sizes as a MiniLM index (384-dim
float32), without minutes of embedding; hashing cost depends only on the bytes.

    python bench/index_verify.py          # -> bench/results/index_verify.json
"""
from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import write  # noqa: E402


def main() -> None:
    from ladder.manifest import verify_manifest
    from ladder.retrieval.index import INDEX_KIND, Index, build_index, load_corpus
    from ladder.testing import DummyEmbedder

    with tempfile.TemporaryDirectory() as d:
        docs = list(load_corpus("wikipedia"))
        idx = build_index(docs, Path(d) / "idx", embedder=DummyEmbedder(dim=384))
        p = Path(d) / "idx"
        total = sum(f.stat().st_size for f in p.rglob("*") if f.is_file())
        runs: dict[str, list[float]] = {"verify": [], "no_verify": [], "hash_only": []}
        for r in range(9):
            for mode in ("verify", "no_verify") if r % 2 == 0 else ("no_verify", "verify"):
                t = time.perf_counter()
                Index.load(p, embedder=DummyEmbedder(dim=384), verify=mode == "verify")
                runs[mode].append(time.perf_counter() - t)
            t = time.perf_counter()
            verify_manifest(p, INDEX_KIND)
            runs["hash_only"].append(time.perf_counter() - t)
        med = {k: round(statistics.median(v), 4) for k, v in runs.items()}
        write("index_verify", {
            "index": f"Wikipedia (ovos summaries): {len(docs)} articles, {len(idx)} passages, default chunking; "
                     "DummyEmbedder(384) vectors (same file sizes as MiniLM's)",
            "bytes_hashed": total, "median_seconds_of_9": med,
            "added_seconds": round(med["verify"] - med["no_verify"], 4),
            "added_fraction_of_load": round((med["verify"] - med["no_verify"]) / med["no_verify"], 2),
            "runs": {k: [round(x, 4) for x in v] for k, v in runs.items()},
            "note": "files are in the page cache (just written); a cold disk adds its read time to both",
        })


if __name__ == "__main__":
    main()

"""Shared by the bench scripts: where the data is, and writing results as JSON."""
from __future__ import annotations

import json
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data"
RESULTS = ROOT / "bench" / "results"


def need_data(*parts: str) -> Path:
    p = DATA.joinpath(*parts)
    if not p.exists():
        print(f"skip: {p} not found (benchmarks need ../shared/data next to the repo)")
        sys.exit(0)
    return p


def write(name: str, data: dict) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"{name}.json"
    doc = {"bench": name, "when": time.strftime("%Y-%m-%d %H:%M:%S"), "machine": {
        "python": platform.python_version(), "cpus": __import__("os").cpu_count()}, **data}
    out.write_text(json.dumps(doc, indent=2, default=str) + "\n")
    print(json.dumps(doc, indent=2, default=str))
    return out


def load_model_threads(spec: str, threads: int):
    """load_model with `threads` llama.cpp threads (1 is far faster than 2 on a CPU shared with other
    jobs: spinning threads wait on each other); 0 keeps the default."""
    import os

    from ladder.models import load_model

    if threads:
        os.environ["LADDER_THREADS"] = str(threads)
    return load_model(spec)


def use_threads() -> int:
    """Threads for this bench's torch and llama.cpp work: $BENCH_THREADS, else 1 (the safe choice on a
    CPU shared with other jobs; 2 on this 2-core machine only when nothing else runs). Set once, recorded
    in the results."""
    import os

    import torch

    n = int(os.environ.get("BENCH_THREADS", "1"))
    torch.set_num_threads(n)
    os.environ["LADDER_THREADS"] = str(n)
    return n

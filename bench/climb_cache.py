"""An identical second climb costs almost nothing: wall time of the second / the first.

Claim: <= 0.03. Runs `ladder climb` (zero-shot + few-shot, smollm2-135m, 60 demo-task examples)
twice against a fresh run store, as a user would, in subprocesses.
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import write

from ladder.data.wiki_topics import build


def main() -> None:
    tmp = Path(tempfile.mkdtemp())
    task = build(tmp / "task", n_test=60)
    cmd = [sys.executable, "-m", "ladder", "climb", str(task), "--models", "smollm2-135m", "--rungs", "zero-shot,few-shot",
           "--all", "--json", "--db", str(tmp / "runs.db")]
    times = []
    for _ in range(2):
        s = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True, env={**os.environ})
        times.append(time.perf_counter() - s)
    write("climb_cache", {"examples": 60, "rungs": ["zero-shot", "few-shot"], "model": "smollm2-135m",
                          "first_seconds": times[0], "second_seconds": times[1], "ratio": times[1] / times[0],
                          "claim": "<= 0.03"})


if __name__ == "__main__":
    main()

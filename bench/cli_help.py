"""`ladder --help` start-up time (claim: under 0.5 s), median of 7 runs, next to `python -c pass`."""
from __future__ import annotations

import statistics
import subprocess
import sys
import time

from common import write


def timed(cmd: list[str]) -> float:
    runs = []
    for _ in range(7):
        s = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        runs.append(time.perf_counter() - s)
    return statistics.median(runs)


def main() -> None:
    help_s = timed([sys.executable, "-m", "ladder", "--help"])
    bare = timed([sys.executable, "-c", "pass"])
    write("cli_help", {"ladder_help_seconds": help_s, "python_startup_seconds": bare, "claim": "< 0.5 s"})


if __name__ == "__main__":
    main()

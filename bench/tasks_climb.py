"""The first real numbers: banking77 and SST-2 (a fixed, seeded sample of 500 test examples each)
through `ladder climb --all` with both default models, zero-shot and few-shot.

Usage: python bench/tasks_climb.py [banking77|sst2 ...] [--limit 500]
Each task's climb JSON goes to bench/results/climb_<task>.json.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from common import need_data, write

TASKS = {
    "banking77": ('Classify the customer-service message by its intent.', "accuracy"),
    "sst2": ("Classify the sentiment of the movie review sentence.", "accuracy"),
}


def task_file(name: str, folder: Path) -> Path:
    data = need_data("tasks", name)
    instruction, metric = TASKS[name]
    path = folder / f"{name}.toml"
    path.write_text(f'name = "{name}"\ninstruction = "{instruction}"\ninput = "{{text}}"\noutput = "label"\n'
                    f'labels = "auto"\nmetric = "{metric}"\ntrain = "{data / "train.jsonl"}"\n'
                    f'test = "{data / "test.jsonl"}"\n')
    return path


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("tasks", nargs="*", default=list(TASKS))
    ap.add_argument("--limit", type=int, default=500)
    ap.add_argument("--models", default="smollm2-135m,qwen2.5-coder-0.5b")
    args = ap.parse_args()
    folder = Path(tempfile.mkdtemp())
    for name in args.tasks:
        cmd = [sys.executable, "-m", "ladder", "climb", str(task_file(name, folder)), "--models", args.models,
               "--rungs", "zero-shot,few-shot", "--all", "--limit", str(args.limit), "--json"]
        out = subprocess.run(cmd, check=True, stdout=subprocess.PIPE, text=True).stdout
        result = json.loads(out)
        write(f"climb_{name}", {"command": " ".join(cmd[2:]), **result})


if __name__ == "__main__":
    main()

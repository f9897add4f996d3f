"""The pretrain rung end to end on real models: does reading the domain's text first help?

The bundled demo task (Wikipedia lead -> topic, written by `ladder demo`) with its corpus (every
article but the test ones). Two programs, same base, same LoRA budget, same seeded test sample:
- finetune: LoRA on the train split;
- pretrain: continued pretraining of the base on the corpus (all weights, a time budget), then
  the same LoRA on top.
Both through `ladder run ... --json` in subprocesses, exactly as a user runs them. The data is the
bundled package's, so this needs no ../shared.

    python bench/pretrain_rung.py [--model smollm2-135m] [--limit 100] [--minutes 4]
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from common import write


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--limit", type=int, default=100)
    ap.add_argument("--minutes", type=float, default=4.0, help="budget of each training (LoRA, continued pretraining)")
    ap.add_argument("--examples", type=int, default=2000, help="train examples for LoRA (seeded sample)")
    args = ap.parse_args()
    folder = Path(tempfile.mkdtemp())
    subprocess.run([sys.executable, "-m", "ladder", "demo", "--out", str(folder)], check=True, stdout=subprocess.DEVNULL)
    rows = {}
    for rung in ("finetune", "pretrain"):
        cmd = [sys.executable, "-m", "ladder", "run", str(folder / "task.toml"), "--rung", rung, "--model", args.model,
               "--limit", str(args.limit), "--train-minutes", str(args.minutes), "--train-examples", str(args.examples),
               "--json"]
        out = subprocess.run(cmd, check=True, stdout=subprocess.PIPE, text=True).stdout
        row = json.loads(out)["row"]
        rows[rung] = {k: row[k] for k in ("score", "ci_low", "ci_high", "n", "one_time_cost", "latency_p50",
                                          "cost_per_1k", "config")}
        print(f"{rung}: {row['score']:.3f} [{row['ci_low']:.3f}, {row['ci_high']:.3f}]", file=sys.stderr)
    pre = rows["pretrain"]["config"].get("pretrain", {})
    write("pretrain_rung", {
        "task": "wiki-topics (ladder demo), accuracy", "model": args.model, "test_examples": args.limit,
        "budget_minutes_per_training": args.minutes, "lora_train_examples": args.examples,
        "perplexity_on_held_out_corpus": {k: pre.get(k) for k in ("perplexity_before", "perplexity_after")},
        "rows": rows,
        "gain_pretrain_minus_finetune": round(rows["pretrain"]["score"] - rows["finetune"]["score"], 4),
    })


if __name__ == "__main__":
    main()

"""LoRA fine-tuning: speed against a plain peft + transformers loop, and quality against prompting.

speed   — seconds per optimizer step and peak RSS for smollm2-135m and qwen2.5-coder-0.5b at a fixed
          batch and length: `ladder.train.lora.train` vs the plain loop below (same tensors, same LoRA
          config, same optimizer), each in its own process so peak memory is its own. ratio = plain / ours
          (>= 1.0 means ours is not slower).
quality — fine-tune smollm2-135m on a seeded subset of the train split under a time budget, then score it
          on the same seeded test sample as bench/tasks_climb.py (`ladder climb --all --limit N`; `--first K`
          keeps its first K), next to zero-shot and few-shot of both models (same evaluate, same intervals).

Usage: python bench/train_finetune.py speed [--models ...] [--batch 2] [--length 64] [--steps 5]
       python bench/train_finetune.py quality [sst2 banking77] [--limit 500] [--minutes 12] [--examples N]
Results: bench/results/train_finetune_speed.json, bench/results/train_finetune_<task>.json
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT, need_data, write

sys.path.insert(0, str(ROOT))


# ------------------------------------------------------------------ speed

def fixed_pairs(tok, n: int, length: int):
    """n (prompt, answer) pairs that each encode to exactly `length` tokens (answer 'yes' + end of turn)."""
    from ladder.train.lora_data import Pair, encode

    def pair(k: int) -> Pair:
        return Pair([{"role": "system", "content": "Answer yes or no."},
                     {"role": "user", "content": " ".join(["ok"] * k)}], "yes")

    k = 1
    while len(encode(tok, pair(k))[0]) < length:
        k += 1
    p = pair(k)
    assert len(encode(tok, p)[0]) == length, "could not hit the exact length"
    return [p] * n


def run_ours(model: str, batch: int, length: int, steps: int) -> dict:
    from ladder.models import hf
    from ladder.train import lora

    _, tok = hf.load_base(model)
    pairs = fixed_pairs(tok, batch * steps, length)
    cfg = lora.LoraConfig(batch_size=batch, micro_batch=batch, max_steps=steps, epochs=1, dropout=0.0,
                          min_examples=1, save_every=10 ** 9)
    res = lora.train(pairs, model, tempfile.mkdtemp(prefix="bench_ours_"), cfg, progress=False, export_gguf=False)
    times = [b["seconds"] - a["seconds"] for a, b in zip(res.curve, res.curve[1:])]
    cpu = [b["cpu_seconds"] - a["cpu_seconds"] for a, b in zip(res.curve, res.curve[1:])]
    return {"seconds_per_step": statistics.median(times), "step_seconds": times,
            "cpu_seconds_per_step": statistics.median(cpu),
            "peak_rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 ** 2,
            "final_loss": res.curve[-1]["loss"]}


def run_plain(model: str, batch: int, length: int, steps: int) -> dict:
    """The baseline: what one writes with peft + transformers and nothing else."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from ladder.models import hf
    from ladder.train.lora_data import collate, encode

    folder = hf.hf_dir(model)
    _, tok = hf.load_base(model)
    rows = [encode(tok, p) for p in fixed_pairs(tok, batch, length)]
    ids, mask, labels = collate(rows, tok.pad_token_id)
    torch.manual_seed(0)
    net = AutoModelForCausalLM.from_pretrained(str(folder), dtype=torch.float32)
    net = get_peft_model(net, LoraConfig(r=16, lora_alpha=32, lora_dropout=0.0, target_modules="all-linear",
                                         task_type="CAUSAL_LM"))
    net.train()
    opt = torch.optim.AdamW([p for p in net.parameters() if p.requires_grad], lr=4e-4)
    stamps, loss = [], None
    for _ in range(steps):
        loss = net(input_ids=ids, attention_mask=mask, labels=labels).loss
        loss.backward()
        opt.step()
        opt.zero_grad()
        stamps.append((time.perf_counter(), time.process_time()))
    times = [b[0] - a[0] for a, b in zip(stamps, stamps[1:])]
    cpu = [b[1] - a[1] for a, b in zip(stamps, stamps[1:])]
    return {"seconds_per_step": statistics.median(times), "step_seconds": times,
            "cpu_seconds_per_step": statistics.median(cpu),
            "peak_rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 ** 2,
            "final_loss": float(loss.detach())}


def run_interleaved(model: str, batch: int, length: int, steps: int) -> dict:
    """Ours (lora._step, the function train() runs each step) and the plain step, alternating in one process
    on the same tensors, so both see the same load from other jobs on the shared cores."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from ladder.models import hf
    from ladder.train import ddp
    from ladder.train.lora import _step
    from ladder.train.lora_data import collate, encode

    folder = hf.hf_dir(model)
    _, tok = hf.load_base(model)
    rows = [encode(tok, p) for p in fixed_pairs(tok, batch, length)]
    ids, mask, labels = collate(rows, tok.pad_token_id)

    def fresh():
        torch.manual_seed(0)
        net = AutoModelForCausalLM.from_pretrained(str(folder), dtype=torch.float32)
        net = get_peft_model(net, LoraConfig(r=16, lora_alpha=32, lora_dropout=0.0, target_modules="all-linear",
                                             task_type="CAUSAL_LM"))
        opt = torch.optim.AdamW([p for p in net.parameters() if p.requires_grad], lr=4e-4)
        return net, opt

    ours, ours_opt = fresh()
    sched = torch.optim.lr_scheduler.LambdaLR(ours_opt, lambda s: 1.0)
    plain, plain_opt = fresh()
    plain.train()
    cpu: dict[str, list[float]] = {"ours": [], "plain": []}
    wall: dict[str, list[float]] = {"ours": [], "plain": []}
    for i in range(steps + 1):
        for name in (("ours", "plain") if i % 2 == 0 else ("plain", "ours")):
            w, c = time.perf_counter(), time.process_time()
            if name == "ours":
                _step(ours, ours, ours_opt, sched, rows, batch, tok.pad_token_id, ddp.World(), 1.0)
            else:
                plain(input_ids=ids, attention_mask=mask, labels=labels).loss.backward()
                plain_opt.step()
                plain_opt.zero_grad()
            if i:  # the first round warms up
                wall[name].append(time.perf_counter() - w)
                cpu[name].append(time.process_time() - c)
    med = {k: statistics.median(v) for k, v in cpu.items()}
    med_wall = {k: statistics.median(v) for k, v in wall.items()}
    return {"cpu_seconds_per_step": med, "wall_seconds_per_step": med_wall, "cpu_step_seconds": cpu,
            "ratio_cpu": med["plain"] / med["ours"], "ratio_wall": med_wall["plain"] / med_wall["ours"]}


def speed(args: argparse.Namespace) -> None:
    rows = []
    for model in args.models.split(","):
        row = {"model": model, "batch": args.batch, "length": args.length, "steps": args.steps}
        for impl in ("plain", "ours"):  # separate processes: peak memory is each one's own
            cmd = [sys.executable, __file__, "_one", impl, model, str(args.batch), str(args.length), str(args.steps)]
            out = subprocess.run(cmd, check=True, stdout=subprocess.PIPE, text=True).stdout
            row[impl] = json.loads(out.strip().splitlines()[-1])
        row["separate_ratio_seconds_per_step"] = row["plain"]["seconds_per_step"] / row["ours"]["seconds_per_step"]
        row["ratio_peak_memory"] = row["plain"]["peak_rss_gib"] / row["ours"]["peak_rss_gib"]
        cmd = [sys.executable, __file__, "_one", "interleaved", model, str(args.batch), str(args.length), str(args.steps)]
        out = subprocess.run(cmd, check=True, stdout=subprocess.PIPE, text=True).stdout
        row["interleaved"] = json.loads(out.strip().splitlines()[-1])
        row["ratio_seconds_per_step"] = row["interleaved"]["ratio_wall"]
        row["ratio_cpu_seconds_per_step"] = row["interleaved"]["ratio_cpu"]
        rows.append(row)
        print(json.dumps(row), file=sys.stderr)
    write("train_finetune_speed", {
        "what": "seconds per optimizer step (median after the first) and peak RSS; ratio = plain / ours",
        "note": "ratio_seconds_per_step: ours and plain alternate step by step in one process on the same "
                "tensors (same load, same memory state). Separate processes give peak memory; their times vary "
                "by +-15% from process to process here, so separate_ratio_seconds_per_step is indicative only.",
        "load_average": os.getloadavg(),
        "rows": rows})


# ------------------------------------------------------------------ quality

TASKS = {  # name: (instruction, input template, output field, labels line, metric)
    "banking77": ("Classify the customer-service message by its intent.", "{text}", "label", 'labels = "auto"\n',
                  "accuracy"),
    "sst2": ("Classify the sentiment of the movie review sentence.", "{text}", "label", 'labels = "auto"\n',
             "accuracy"),
    # ASSET: 10 human simplifications per sentence; SARI against all of them, training on the first
    "asset_simplification": ("Rewrite the sentence so that it is simpler and easier to read. Keep its meaning. "
                             "Answer with the rewritten sentence only.", "{source}", "references", "", "sari"),
}


def task_toml(name: str, folder: Path) -> Path:
    """The same task definition as bench/tasks_climb.py for the label tasks, so the seeded test sample is the same."""
    data = need_data("tasks", name)
    instruction, template, output, labels, metric = TASKS[name]
    path = folder / f"{name}.toml"
    path.write_text(f'name = "{name}"\ninstruction = "{instruction}"\ninput = "{template}"\noutput = "{output}"\n'
                    f'{labels}metric = "{metric}"\ntrain = "{data / "train.jsonl"}"\n'
                    f'test = "{data / "test.jsonl"}"\n')
    return path


def eval_row(task, rung: str, model: str, options, examples, store, prices) -> dict:
    """run_rung's steps on an explicit list of examples (a prefix of the seeded test sample)."""
    from dataclasses import asdict

    from ladder.advisor import to_row
    from ladder.evaluation import evaluate
    from ladder.models import load_model
    from ladder.rungs import get_rung
    from ladder.store import CachedModel, digest

    t0 = time.perf_counter()
    m = CachedModel(load_model(model), store)
    program = get_rung(rung)(task, m, dict(options or {}))
    key = digest(task.fingerprint(), program.describe(), m.fingerprint, len(examples), "bench-prefix")
    res = evaluate(program, examples, task.metric, **task.scoring(), store=store,
                   run_key=key)
    row = asdict(to_row(task, rung, model, m, program, res, prices))
    row["bench_wall_seconds"] = time.perf_counter() - t0
    if task.metric == "sari":  # a style task: chrF against the references too, and a few outputs to read
        from ladder.metrics import chrf

        row["chrf"] = mean_ci([chrf(r["output"], r["expected"]) for r in res.rows])
        row["samples"] = [{"input": r["input"], "output": r["output"]} for r in res.rows[:3]]
    return row


def quality(args: argparse.Namespace) -> None:
    from ladder.cost import load_prices
    from ladder.store import Store
    from ladder.task import load_task

    folder = Path(tempfile.mkdtemp())
    store = Store()
    for name in args.tasks:
        task = load_task(task_toml(name, folder))
        ft = {"max_examples": args.examples, "epochs": 1, "max_minutes": args.minutes, "batch_size": 8}
        examples = task.test_sample(args.limit)[: args.first or None]
        plan = [("finetune", "smollm2-135m", ft)] + [
            (rung, m, None) for m in ("smollm2-135m", "qwen2.5-coder-0.5b") for rung in ("zero-shot", "few-shot")]
        rows: list[dict] = []
        for rung, model, options in plan:  # results are written after every row: a cut-off run keeps its rows
            rows.append(eval_row(task, rung, model, options, examples, store, load_prices(task.prices)))
            r = rows[-1]
            print(f"{name} {rung} {model}: {r['score']:.3f} [{r['ci_low']:.3f}, {r['ci_high']:.3f}]", file=sys.stderr)
            ft_row, prompted = rows[0], rows[1:]
            best = max(prompted, key=lambda r: r["score"]) if prompted else None
            write(f"train_finetune_{name}", {
                "task": name, "test_examples": f"first {len(examples)} of the seeded {args.limit}-example test sample "
                                               "(Task.test_sample, seed 0)",
                "finetune_options": ft, "rows_done": f"{len(rows)} of {len(plan)}",
                "question": "does fine-tuning smollm2-135m beat prompting qwen2.5-coder-0.5b?",
                "best_prompted_so_far": best and {k: best[k] for k in ("rung", "model", "score", "ci_low", "ci_high")},
                "finetuned": {k: ft_row[k] for k in ("score", "ci_low", "ci_high", "one_time_cost")},
                **({"copy_input_baseline": copy_baseline(task, examples)} if task.metric == "sari" else {}),
                "rows": rows})


def mean_ci(vals: list[float]) -> dict:
    from ladder.evaluation import bootstrap_ci

    lo, hi = bootstrap_ci(vals)
    return {"score": round(sum(vals) / len(vals), 4), "ci_low": round(lo, 4), "ci_high": round(hi, 4)}


def copy_baseline(task, examples) -> dict:
    """SARI and chrF of returning the input unchanged: chrF rewards copying, SARI does not."""
    from ladder.metrics import chrf, sari

    src = [task.source_text(e) for e in examples]
    return {"sari": mean_ci([sari(s, task.expected(e), s) for s, e in zip(src, examples)]),
            "chrf": mean_ci([chrf(s, task.expected(e)) for s, e in zip(src, examples)])}


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "_one":
        impl, model, batch, length, steps = sys.argv[2:7]
        fn = {"ours": run_ours, "plain": run_plain, "interleaved": run_interleaved}[impl]
        print(json.dumps(fn(model, int(batch), int(length), int(steps))))
        return
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="part", required=True)
    s = sub.add_parser("speed")
    s.add_argument("--models", default="smollm2-135m,qwen2.5-coder-0.5b")
    s.add_argument("--batch", type=int, default=2)
    s.add_argument("--length", type=int, default=64)
    s.add_argument("--steps", type=int, default=10)
    q = sub.add_parser("quality")
    q.add_argument("tasks", nargs="*", default=["sst2", "banking77"])
    q.add_argument("--limit", type=int, default=500)
    q.add_argument("--minutes", type=float, default=12.0)
    q.add_argument("--examples", type=int, default=2000)
    q.add_argument("--first", type=int, default=None, help="Score only the first N of the seeded sample.")
    args = ap.parse_args()
    speed(args) if args.part == "speed" else quality(args)


if __name__ == "__main__":
    main()

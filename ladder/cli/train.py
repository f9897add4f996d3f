"""`ladder finetune` and `ladder distill`: thin over ladder.train.

Both also run data-parallel: `torchrun --nproc_per_node 2 -m ladder finetune ...`
(only rank 0 prints).
"""
from __future__ import annotations

import json
import os
import sys
from typing import Any, Callable

import click

from ladder.cli.common import console, train_minutes, train_minutes_option


def lora_options(f: Callable) -> Callable:
    opts = [
        click.option("--epochs", type=int, default=None, help="Passes over the data (default: fitted to its size)."),
        click.option("--lr", type=float, default=None, help="Learning rate (default 4e-4)."),
        click.option("--rank", type=int, default=None, help="LoRA rank (default 16)."),
        click.option("--dropout", type=float, default=None, help="LoRA dropout (default 0.05)."),
        click.option("--batch-size", type=int, default=None, help="Sequences per optimizer step (default 8)."),
        click.option("--micro-batch", type=int, default=None, help="Sequences per forward pass (default: what fits)."),
        click.option("--max-len", type=int, default=None, help="Longest example in tokens (default: fitted)."),
        click.option("--max-steps", type=int, default=None, help="Stop after this many optimizer steps."),
        click.option("--max-examples", type=int, default=None, help="Train on a seeded sample of N examples."),
        click.option("--max-memory", "max_memory_gb", type=float, default=None,
                     help="GiB training may use (default: 90% of what is free)."),
        click.option("--seed", type=int, default=None, help="Seed (default 0)."),
    ]
    for o in reversed(opts):
        f = o(f)
    return train_minutes_option(f)


def _config(kw: dict[str, Any]) -> Any:
    from ladder.train.lora import LoraConfig

    minutes = train_minutes(kw)
    return LoraConfig.from_options({**{k: v for k, v in kw.items() if v is not None},
                                    **({"max_minutes": minutes} if minutes is not None else {})})


def _rank0() -> bool:
    return int(os.environ.get("RANK", "0")) == 0


def _show(result: Any, title: str, extra: dict[str, Any] | None = None) -> None:
    from rich.table import Table

    from ladder.cost import load_prices, usage_cost

    cost = usage_cost(result.usage, "", True, load_prices())
    rows = {
        "steps": result.steps, "examples": result.meta.get("n_train"),
        "final loss": result.curve[-1]["loss"] if result.curve else "-",
        "best dev loss": result.best_dev_loss if result.best_dev_loss is not None else "-",
        "stopped early": result.stopped_early, "wall seconds": f"{result.usage.seconds:.1f}",
        "CPU seconds": f"{result.usage.cpu_seconds:.1f}", "tokens seen": result.usage.tokens_in,
        "FLOPs (~6 N D)": f"{result.flops:.3g}", "cost (USD, CPU-hours)": f"{cost:.4f}",
        "peak memory (GiB)": result.peak_memory_gib, "reused finished run": result.reused,
        "adapter": str(result.adapter), "GGUF LoRA": str(result.gguf or "-"), **(extra or {}),
    }
    t = Table(title=title, show_header=False)
    for k, v in rows.items():
        t.add_row(k, str(v))
    console().print(t)


def _score(task: Any, base: str, result: Any, limit: int | None) -> dict[str, Any]:
    """The served fine-tuned program's score on the (sampled) test split, for the table and JSON."""
    from ladder.rungs.finetune import evaluate_adapter

    res = evaluate_adapter(task, base, result.gguf, limit=limit, one_time=result.usage)
    return {"metric": res.metric, "score": res.score, "ci_low": res.ci_low, "ci_high": res.ci_high, "n": res.n}


@click.command()
@click.argument("task_file", type=click.Path(dir_okay=False))
@click.option("--model", "base", default="smollm2-135m", show_default=True,
              help="Base to adapt: a bundled name, a .gguf path, or a Hugging Face folder.")
@click.option("--out", default=None, help="Run folder (default: runs/<task>-<model>-lora).")
@lora_options
@click.option("--eval", "do_eval", is_flag=True, help="Score the fine-tuned model on the test split afterwards.")
@click.option("--limit", type=int, default=None, help="With --eval: a seeded sample of N test examples.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")
def finetune(task_file: str, base: str, out: str | None, do_eval: bool, limit: int | None, as_json: bool,
             **kw: Any) -> None:
    """LoRA fine-tune a model on a task's train split (dev split for early stopping).

    Writes a PEFT adapter, a GGUF LoRA for llama.cpp, the loss curve and the run's
    cost into --out. Interrupted? Run the same command again: it resumes.

    \b
    Example:
      ladder finetune task.toml --model smollm2-135m --epochs 2 --out runs/ft1
      torchrun --nproc_per_node 2 -m ladder finetune task.toml --out runs/ft-ddp
    """
    from ladder.task import load_task
    from ladder.train.lora import finetune as run

    task = load_task(task_file)
    out = out or f"runs/{task.name}-{os.path.basename(str(base)).removesuffix('.gguf')}-lora"
    result = run(task, base, out, _config(kw), progress=not as_json and sys.stderr.isatty())
    if not _rank0():
        return
    scored = _score(task, base, result, limit) if do_eval and result.gguf else None
    if as_json:
        click.echo(json.dumps({**result.to_dict(), "eval": scored}, indent=2, default=str))
        return
    extra = {f"test {scored['metric']}": f"{scored['score']:.3f} [{scored['ci_low']:.3f}, {scored['ci_high']:.3f}] "
             f"(n={scored['n']})"} if scored else None
    _show(result, f"fine-tuned {base} on {task.name}", extra)


@click.command()
@click.argument("task_file", type=click.Path(dir_okay=False))
@click.option("--teacher", required=True, help="Teacher: openai/<model> (with --base-url), a bundled name, or a .gguf.")
@click.option("--inputs", "inputs_file", required=True, type=click.Path(dir_okay=False),
              help="Unlabelled inputs (JSONL with the task's input fields).")
@click.option("--student", default="smollm2-135m", show_default=True, help="The model to fine-tune.")
@click.option("--teacher-rung", default="few-shot", show_default=True, help="How the teacher is prompted.")
@click.option("--votes", type=int, default=1, show_default=True,
              help="Self-consistency: sample N answers (temperature 0.7), keep the majority answer.")
@click.option("--min-agreement", type=float, default=0.5, show_default=True,
              help="With --votes > 1: keep an input only if this share of votes agree.")
@click.option("--min-confidence", type=float, default=0.0, show_default=True,
              help="Labels: drop answers whose probability share among the labels is below this.")
@click.option("--base-url", default=None, help="The teacher's OpenAI-compatible base URL.")
@click.option("--out", default=None, help="Run folder (default: runs/<task>-distill-<student>).")
@lora_options
@click.option("--eval/--no-eval", "do_eval", default=True, show_default=True,
              help="Score teacher and student on the test split, side by side.")
@click.option("--limit", type=int, default=None, help="A seeded sample of N test examples for --eval.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")
def distill(task_file: str, teacher: str, inputs_file: str, student: str, teacher_rung: str, votes: int,
            min_agreement: float, min_confidence: float, base_url: str | None, out: str | None, do_eval: bool, limit: int | None,
            as_json: bool, **kw: Any) -> None:
    """Label inputs with a prompted teacher, then fine-tune a small student on its answers.

    \b
    Example:
      ladder distill task.toml --teacher openai/llama-3.1-70b --base-url http://localhost:8080/v1 \\
          --inputs unlabeled.jsonl --student smollm2-135m
    """
    from ladder.task import load_task
    from ladder.distill import DistillConfig, distill as run

    task = load_task(task_file)
    out = out or f"runs/{task.name}-distill-{os.path.basename(str(student)).removesuffix('.gguf')}"
    dcfg = DistillConfig(teacher=teacher, teacher_rung=teacher_rung, votes=votes, min_agreement=min_agreement,
                         min_confidence=min_confidence, base_url=base_url)
    report = run(task, inputs_file, student, out, dcfg, _config(kw), evaluate_test=do_eval, limit=limit,
                 progress=not as_json and sys.stderr.isatty())
    if not _rank0():
        return
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2, default=str))
        return
    _show(report.train, f"distilled {teacher} -> {student} on {task.name}",
          {"inputs labelled": f"{report.kept} kept of {report.labelled}", "teacher cost (s)":
           f"{report.teacher_usage.seconds:.1f}"})
    if report.side_by_side:
        from rich.table import Table

        t = Table(title="teacher vs student (test split)")
        for c in ("role", "model", "score", "95% CI", "n", "one-time CPU s", "seconds / 1k"):
            t.add_column(c)
        for r in report.side_by_side:
            t.add_row(r["role"], r["model"], f"{r['score']:.3f}", f"[{r['ci_low']:.3f}, {r['ci_high']:.3f}]",
                      str(r["n"]), f"{r['one_time_cpu_seconds']:.0f}", f"{r['seconds_per_1k']:.1f}")
        console().print(t)

"""`ladder pretrain | plan-pretrain`: thin over ladder.train.pretrain and ladder.train.plan."""
from __future__ import annotations

import json
import sys
from typing import Any

import click

from ladder.cli.common import train_minutes, train_minutes_option
from ladder.errors import LadderError


def _console(stderr: bool = False) -> Any:
    from rich.console import Console

    return Console(stderr=stderr)


def _fmt_seconds(s: float) -> str:
    return f"{s:.0f} s" if s < 120 else f"{s / 60:.1f} min" if s < 7200 else f"{s / 3600:.1f} h"


class _Bar:
    """A rich progress bar fed by pretrain's on_step callback (created once the step count is known)."""

    def __init__(self, quiet: bool):
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

        self.progress = Progress(
            TextColumn("pretrain"), BarColumn(), MofNCompleteColumn(), TextColumn("loss {task.fields[loss]:.3f}"),
            TextColumn("{task.fields[rate]:,.0f} tok/s"), TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(),
            console=_console(stderr=True), disable=quiet,
        )
        self.task = None

    def __enter__(self) -> "_Bar":
        self.progress.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.__exit__(*exc)

    def __call__(self, info: dict[str, Any]) -> None:
        if self.task is None:
            self.task = self.progress.add_task("", total=info["steps"], completed=info["step"] - 1, loss=0.0, rate=0.0)
        self.progress.update(self.task, completed=info["step"], loss=info["loss"], rate=info["tokens_per_second"])


@click.command()
@click.argument("corpus")
@click.option("--from", "base", default=None, help="Continued pretraining of this base: a bundled name "
              "(gemma3-270m, smollm2-135m), a .gguf, or a transformers folder.")
@click.option("--scratch", is_flag=True, help="Train a new small LLaMA-style model (with a tokenizer trained on CORPUS).")
@click.option("--params", default=None, help="With --scratch: model size, e.g. 5M, 20M, 125M.")
@click.option("--out", "out_dir", required=True, help="Run folder (model/, model.gguf, result.json; resumes from its checkpoint).")
@click.option("--steps", type=int, default=None, help="Optimizer steps. Default: one pass over the train tokens (max 2000).")
@train_minutes_option
@click.option("--seq-len", default=256, show_default=True, help="Tokens per training window.")
@click.option("--batch-size", default=8, show_default=True, help="Windows per step.")
@click.option("--lr", type=float, default=None, help="Peak learning rate. Default 1e-3 from scratch, 5e-5 continued.")
@click.option("--vocab-size", default=8192, show_default=True, help="With --scratch: BPE vocabulary size.")
@click.option("--heldout", default=0.05, show_default=True, help="Share of documents held out for perplexity.")
@click.option("--eval-tokens", default=16384, show_default=True, help="Held-out tokens scored before and after.")
@click.option("--checkpoint-every", default=50, show_default=True, help="Steps between checkpoints.")
@click.option("--freeze-embeddings", is_flag=True, help="Continued: do not train the (tied) embedding matrix.")
@click.option("--gguf-type", default="q8_0", show_default=True, help="Continued: GGUF weights (f32, f16, bf16, q8_0).")
@click.option("--no-export", is_flag=True, help="Skip the GGUF export.")
@click.option("--cpu-hour", type=float, default=None, help="USD per CPU-core-hour for the cost line (default: ladder.cost).")
@click.option("--seed", default=0, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")
def pretrain(corpus: str, base: str | None, scratch: bool, params: str | None, out_dir: str, steps: int | None,
             seq_len: int, batch_size: int, lr: float | None, vocab_size: int, heldout: float, eval_tokens: int,
             checkpoint_every: int, freeze_embeddings: bool, gguf_type: str, no_export: bool,
             cpu_hour: float | None, seed: int, as_json: bool, **limit: Any) -> None:
    """Continued pretraining of a base model, or a small model from scratch.

    CORPUS is a JSONL file of {text} or {title, text}, a folder built by
    `ladder index`, a BEIR folder, or 'wikipedia'. Held-out perplexity is
    reported before and after; the model is exported to GGUF for llama.cpp.
    An interrupted run resumes from its last checkpoint with the same command.

    \b
    Examples:
      ladder pretrain corpus.jsonl --from gemma3-270m --out runs/cpt1
      ladder pretrain corpus.jsonl --scratch --params 20M --out runs/pt1
      ladder pretrain wikipedia --scratch --params 5M --steps 300 --out runs/wiki5m --json
    """
    from ladder.cost import DEFAULT_PRICES
    from ladder.train.pretrain import PretrainConfig
    from ladder.train.pretrain import pretrain as run

    if scratch and base:
        raise LadderError("--scratch and --from exclude each other: train a new model, or continue a base")
    if scratch and not params:
        raise LadderError("--scratch needs --params, e.g. --params 20M")
    if not scratch and not base:
        raise LadderError("say what to train: --from BASE (e.g. gemma3-270m) or --scratch --params 20M")
    if params and not scratch:
        raise LadderError("--params applies to --scratch only (a base model has its own size)")
    cfg = PretrainConfig(
        out=out_dir, params=params, base=base, seq_len=seq_len, batch_size=batch_size, steps=steps, lr=lr,
        max_minutes=train_minutes(limit),
        vocab_size=vocab_size, heldout=heldout, eval_tokens=eval_tokens, checkpoint_every=checkpoint_every,
        freeze_embeddings=freeze_embeddings, gguf_type=gguf_type, export=not no_export, seed=seed,
        cpu_hour=DEFAULT_PRICES["cpu_hour"] if cpu_hour is None else cpu_hour,
    )
    if not as_json and sys.stderr.isatty():  # a status line for people; pipes get only the result or one error line
        what = f"continued pretraining of {base}" if base else f"a {params} model from scratch"
        _console(stderr=True).print(f"[dim]{what} on {corpus}: reading, tokenizing, measuring perplexity before...[/dim]")
    with _Bar(quiet=as_json and not sys.stderr.isatty()) as bar:
        result = run(corpus, cfg, on_step=bar)
    doc = result.to_dict()
    if as_json:
        click.echo(json.dumps(doc, indent=1, default=str))
        return
    _show(result, seq_len)


def _show(result: Any, seq_len: int) -> None:
    """The run as a two-column table: perplexity before -> after with intervals, size, time, cost."""
    from rich.table import Table

    t = Table(title=f"pretrain ({result.kind}{': ' + result.base if result.base else ''})", show_header=False)
    rows = [
        ("held-out perplexity", f"{result.perplexity_before:,.2f} [{result.perplexity_before_ci[0]:,.2f}, "
                                f"{result.perplexity_before_ci[1]:,.2f}] -> {result.perplexity_after:,.2f} "
                                f"[{result.perplexity_after_ci[0]:,.2f}, {result.perplexity_after_ci[1]:,.2f}]"),
        ("held-out set", f"{result.heldout_docs} documents; {len(result.heldout_nll_after)} windows of "
                         f"{seq_len} tokens scored (95% bootstrap intervals over windows)"),
        ("parameters", f"{result.params:,}"),
        ("steps / tokens seen", f"{result.steps:,} / {result.tokens_seen:,} (train stream {result.train_tokens:,})"),
        ("wall / CPU", f"{_fmt_seconds(result.wall_seconds)} / {_fmt_seconds(result.cpu_seconds)}"
                       + (f" (resumed at step {result.resumed_from})" if result.resumed_from else "")),
        ("throughput", f"{result.tokens_per_second:,.0f} tokens/s"),
        ("compute", f"{result.flops:.3g} FLOPs (6 x params x tokens)"),
        ("cost", f"${result.dollars:.4f} at ${result.usd_per_cpu_hour}/CPU-hour"),
        ("model", result.model_dir),
        ("gguf", result.gguf or "(not exported)"),
    ]
    for k, v in rows:
        t.add_row(k, v)
    _console().print(t)


@click.command("plan-pretrain")
@click.option("--params", required=True, help="Model size, e.g. 125M, 7B, 70B.")
@click.option("--tokens", default=None, help="Training tokens, e.g. 300B, 1T. Default: compute-optimal ~20 x params.")
@click.option("--gpu", default="h100", show_default=True, help="GPU type, or 'all' to compare every known GPU.")
@click.option("--gpus", "n_gpus", default=8, show_default=True, help="GPUs training together.")
@click.option("--mfu", default=0.4, show_default=True, help="Model FLOPs utilisation: sustained share of peak.")
@click.option("--price", type=float, default=None, help="USD per GPU-hour (default: a rough on-demand price per GPU).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")
def plan_pretrain(params: str, tokens: str | None, gpu: str, n_gpus: int, mfu: float, price: float | None,
                  as_json: bool) -> None:
    """Estimate what pretraining would cost at scale (FLOPs = 6 x params x tokens).

    Prints GPU-hours, days on --gpus GPUs and dollars, the compute-optimal token
    count for the size (Chinchilla, ~20 tokens per parameter), and every
    assumption behind the numbers.

    \b
    Examples:
      ladder plan-pretrain --params 7B --tokens 1T --gpu h100
      ladder plan-pretrain --params 1B --gpu all --gpus 64 --json
      ladder plan-pretrain --params 20M --gpu l4 --gpus 1 --price 0.8
    """
    from ladder.train.plan import GPUS, human, parse_count, plan

    n = parse_count(params, "--params")
    d = parse_count(tokens, "--tokens") if tokens else None
    gpus = list(GPUS) if gpu.lower() == "all" else [gpu]
    plans = [plan(n, d, gpu=g, n_gpus=n_gpus, mfu=mfu, usd_per_gpu_hour=price) for g in gpus]
    if as_json:
        doc = plans[0].to_dict() if len(plans) == 1 else {"plans": [p.to_dict() for p in plans]}
        click.echo(json.dumps(doc, indent=1))
        return
    from rich.table import Table

    p0 = plans[0]
    con = _console()
    title = (f"{human(p0.params)} params on {human(p0.tokens)} tokens ({p0.tokens_per_param:.0f} tokens/param; "
             f"compute-optimal ~{human(p0.chinchilla_tokens)}): {p0.flops:.3g} FLOPs")
    t = Table(title=title)
    for col in ("gpu", "GPU-hours", f"days on {n_gpus}", "USD/GPU-hour", "USD"):
        t.add_column(col, justify="right" if col != "gpu" else "left")
    for p in sorted(plans, key=lambda p: p.dollars):
        t.add_row(p.gpu, f"{p.gpu_hours:,.0f}" if p.gpu_hours >= 10 else f"{p.gpu_hours:.2g}",
                  f"{p.days:,.1f}" if p.days >= 1 else f"{p.days * 24:.2g} h",
                  f"{p.usd_per_gpu_hour:.2f}", f"{p.dollars:,.0f}" if p.dollars >= 10 else f"{p.dollars:.2f}")
    con.print(t)
    con.print("[bold]assumptions[/bold]")
    notes = p0.assumptions
    if len(plans) > 1:  # the per-GPU lines of the first plan would mislead; say what the columns are instead
        notes = [notes[0], f"each GPU's dense BF16 peak from its data sheet, sustained at MFU {mfu:.0%}",
                 "USD/GPU-hour: " + ("given" if price is not None else "rough on-demand list prices"), *notes[3:]]
    for a in notes:
        con.print(f"  - {a}")

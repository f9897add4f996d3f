"""Options, progress bars and console shared by the CLI commands."""
from __future__ import annotations

import contextlib
import sys
from typing import Any, Callable, Iterator

import click


def console(stderr: bool = False) -> Any:
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    # piped into a file or a CI log, rich would squeeze tables into 80 columns and truncate them
    return Console(stderr=stderr, width=None if stream.isatty() else 160)


def rung_options(f: Callable) -> Callable:
    """Options that shape the rungs; the command receives them as keywords for `rung_settings`."""
    f = click.option("--passages", type=int, default=None, help="rag rung: passages per prompt (default 3).")(f)
    f = click.option("--rerank", default=None,
                     help="rag rung: rerank retrieved passages (cross-encoder[:DIR], pointwise:MODEL, listwise:MODEL).")(f)
    f = click.option("--retriever", type=click.Choice(["hybrid", "bm25", "dense"]), default=None,
                     help="rag rung: how passages are retrieved (default hybrid).")(f)
    f = click.option("--train-minutes", type=float, default=None,
                     help="finetune/pretrain rungs: training time budget in minutes.")(f)
    f = click.option("--train-examples", type=int, default=None,
                     help="finetune/pretrain rungs: train on at most N examples (seeded sample).")(f)
    f = click.option("--calibrate/--no-calibrate", default=None,
                     help="Subtract the label prior measured on content-free inputs (label tasks).")(f)
    f = click.option("--seed", default=0, show_default=True, help="Seed for demo selection.")(f)
    f = click.option("--selector", default=None, help="Few-shot demos: fixed, random, balanced, similar.")(f)
    f = click.option("--k", type=int, default=None, help="Few-shot demos per prompt.")(f)
    return f


def rung_settings(k: int | None = None, selector: str | None = None, seed: int = 0, calibrate: bool | None = None,
                  train_minutes: float | None = None, train_examples: int | None = None,
                  retriever: str | None = None, rerank: str | None = None,
                  passages: int | None = None) -> dict[str, dict[str, Any]]:
    """Per-rung options from the command line; unset flags leave each rung's defaults."""
    def given(**kw: Any) -> dict[str, Any]:
        return {key: v for key, v in kw.items() if v is not None}

    shared = given(calibrate=calibrate)
    train = given(max_minutes=train_minutes, max_examples=train_examples)
    return {"zero-shot": shared, "few-shot": {"seed": seed, **shared, **given(k=k, selector=selector)},
            "rag": {**shared, **given(k=passages, method=retriever, rerank=rerank)},
            "finetune": {**shared, **train}, "pretrain": {**shared, **train}}


def common_options(f: Callable) -> Callable:
    f = click.option("--target", type=float, default=None, help="Quality target (overrides the task's).")(f)
    f = click.option("--prices", "prices_file", default=None, type=click.Path(exists=True, dir_okay=False),
                     help="TOML price table (cpu_hour, gpu_hour, [models.<name>]).")(f)
    f = click.option("--concurrency", default=4, show_default=True,
                     help="Requests in flight against an HTTP backend (local models run one at a time).")(f)
    f = click.option("--base-url", default=None, help="OpenAI-compatible base URL (else OPENAI_BASE_URL).")(f)
    f = click.option("--db", default=None, help="Run store (SQLite). Default: $LADDER_HOME/runs.db.")(f)
    f = click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")(f)
    f = click.option("--limit", type=int, default=None, help="Score a fixed, seeded sample of N test examples.")(f)
    return f


@contextlib.contextmanager
def progress_bar(quiet: bool = False) -> Iterator[Callable[[str, str, int], Callable[[int, int], None]]]:
    """Yields start(rung, model, total) -> update(done, total); bars go to stderr."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    prog = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    TextColumn("eta"), TimeRemainingColumn(), console=console(stderr=True),
                    disable=not sys.stderr.isatty() and quiet)

    def start(rung: str, model: str, total: int) -> Callable[[int, int], None]:
        tid = prog.add_task(f"{rung:<10} {model}", total=total)
        return lambda done, tot: prog.update(tid, completed=done, total=tot)

    with prog:
        yield start

"""Options, progress bars and console shared by the CLI commands."""
from __future__ import annotations

import contextlib
import sys
from typing import Any, Callable, Iterator

import click

from ladder.errors import LadderError
from ladder.rungs import rung_spec


def at_least(low: float, above: bool = False) -> Callable[[click.Context, click.Parameter, Any], Any]:
    """An option callback refusing values below `low` (or not above it) with one InputError line (exit 2)."""
    def check(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
        if value is not None and (value <= low if above else value < low):
            from ladder.errors import InputError

            raise InputError(param.opts[0], f"must be {'above' if above else 'at least'} {low:g}, got {value:g}")
        return value
    return check


def fraction(ctx: click.Context, param: click.Parameter, value: float | None) -> float | None:
    """An option callback: a number between 0 and 1 (a quality target)."""
    if value is not None and not 0 <= value <= 1:
        from ladder.errors import InputError

        raise InputError(param.opts[0], f"must be between 0 and 1 (a score like 0.8), got {value:g}")
    return value


def set_timeout(ctx: click.Context, param: click.Parameter, value: float | None) -> None:
    """--timeout reaches every HTTP backend the command loads, as LADDER_TIMEOUT does."""
    if value is not None:
        import os

        at_least(0, above=True)(ctx, param, value)
        os.environ["LADDER_TIMEOUT"] = repr(value)


def timeout_option(f: Callable) -> Callable:
    return click.option("--timeout", type=float, default=None, expose_value=False, callback=set_timeout,
                        help="Seconds an HTTP backend may take per call, retries included "
                             "(default $LADDER_TIMEOUT or 60).")(f)


def _no_verify(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if value:
        import os

        os.environ["LADDER_NO_VERIFY"] = "1"


def no_verify_option(f: Callable) -> Callable:
    """--no-verify: use an index whose files no longer match its manifest's SHA-256s (for the brave)."""
    return click.option("--no-verify", is_flag=True, expose_value=False, callback=_no_verify,
                        help="Skip checking the index files' SHA-256 against its manifest (also LADDER_NO_VERIFY=1).")(f)


def console(stderr: bool = False) -> Any:
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    # piped into a file or a CI log, rich would squeeze tables into 80 columns and truncate them
    return Console(stderr=stderr, width=None if stream.isatty() else 160)


def rung_options(f: Callable) -> Callable:
    """Options that shape the rungs; the command receives them as keywords for `rung_settings`."""
    f = click.option("--option", "-o", "extra", multiple=True, metavar="[RUNG.]NAME=VALUE",
                     help="Any rung option, plugins' included (e.g. -o finetune.rank=8); repeatable.")(f)
    f = click.option("--passages", type=int, default=None, callback=at_least(1),
                     help="rag rung: passages per prompt (default 3).")(f)
    f = click.option("--rerank", default=None,
                     help="rag rung (and serve --index): rerank retrieved passages (cross-encoder[:DIR], pointwise:MODEL, "
                          "listwise:MODEL, qlm:MODEL).")(f)
    f = click.option("--retriever", type=click.Choice(["hybrid", "bm25", "dense"]), default=None,
                     help="rag rung: how passages are retrieved (default hybrid).")(f)
    f = click.option("--train-minutes", type=float, default=None, callback=at_least(0, above=True),
                     help="finetune/pretrain rungs: training time budget in minutes.")(f)
    f = click.option("--train-examples", type=int, default=None, callback=at_least(1),
                     help="finetune/pretrain rungs: train on at most N examples (seeded sample).")(f)
    f = click.option("--calibrate/--no-calibrate", default=None,
                     help="Subtract the label prior measured on content-free inputs (label tasks).")(f)
    f = click.option("--seed", type=int, default=None, help="few-shot rung: seed for demo selection (default 0).")(f)
    f = click.option("--selector", default=None, help="few-shot rung: demos fixed, random, balanced, similar.")(f)
    f = click.option("--k", type=int, default=None, callback=at_least(1), help="few-shot rung: demos per prompt.")(f)
    return f


# flag -> {rung: the option it sets}; `--k` is few-shot's demos, `--passages` is rag's k
FLAG_OPTIONS: dict[str, dict[str, str]] = {
    "k": {"few-shot": "k"}, "selector": {"few-shot": "selector"}, "seed": {"few-shot": "seed"},
    "calibrate": {r: "calibrate" for r in ("zero-shot", "few-shot", "rag", "finetune", "pretrain")},
    "train_minutes": {"finetune": "max_minutes", "pretrain": "max_minutes"},
    "train_examples": {"finetune": "max_examples", "pretrain": "max_examples"},
    "retriever": {"rag": "method"}, "rerank": {"rag": "rerank"}, "passages": {"rag": "k"},
}


def rung_settings(rungs: list[str], extra: tuple[str, ...] = (), **flags: Any) -> dict[str, dict[str, Any]]:
    """Per-rung options from the command line for the rungs that will run; unset flags leave each
    rung's defaults. A flag or `-o` option that none of `rungs` takes is refused, naming it."""
    out: dict[str, dict[str, Any]] = {r: {} for r in rungs}
    for flag, value in flags.items():
        if value is None:
            continue
        targets = [r for r in rungs if r in FLAG_OPTIONS[flag]]
        if not targets:
            takers = ", ".join(FLAG_OPTIONS[flag])
            raise LadderError(f"--{flag.replace('_', '-')} applies to the {takers} rung(s), and none of them runs here")
        for r in targets:
            out[r][FLAG_OPTIONS[flag][r]] = value
    for item in extra:
        name, value = _option(item)
        rung, _, key = name.rpartition(".")
        targets = [rung] if rung else [r for r in rungs if key in rung_spec(r).option_fields()]
        if not targets or any(r not in out for r in targets):
            raise LadderError(f"--option {item}: no rung that runs here takes '{key}'"
                              + (f" (rung '{rung}' is not climbed)" if rung else ""))
        for r in targets:
            out[r][key] = value
    return out


def _option(item: str) -> tuple[str, Any]:
    """'NAME=VALUE' with VALUE read as JSON when it parses (8, 0.5, true, null), else as text."""
    import json

    name, eq, raw = item.partition("=")
    if not eq or not name.strip():
        raise LadderError(f"--option {item!r}: write it as NAME=VALUE or RUNG.NAME=VALUE (e.g. -o finetune.rank=8)")
    try:
        return name.strip(), json.loads(raw)
    except ValueError:
        return name.strip(), raw


def train_minutes_option(f: Callable) -> Callable:
    """`--train-minutes`: the one name and unit for a training time limit across commands. The old
    spellings keep working, hidden: `--max-minutes` (minutes) and `--time-budget` (seconds)."""
    f = click.option("--time-budget", "old_time_budget", type=float, default=None, hidden=True)(f)
    f = click.option("--max-minutes", "old_max_minutes", type=float, default=None, hidden=True)(f)
    return click.option("--train-minutes", type=float, default=None, callback=at_least(0, above=True),
                        help="Training time budget in minutes: stop (keeping what was learnt) after it.")(f)


def train_minutes(kw: dict[str, Any]) -> float | None:
    """The time limit in minutes from `train_minutes_option`'s keywords (removed from `kw`)."""
    minutes, old_minutes, seconds = kw.pop("train_minutes", None), kw.pop("old_max_minutes", None), \
        kw.pop("old_time_budget", None)
    if minutes is not None:
        return minutes
    if old_minutes is not None:
        return old_minutes
    return seconds / 60 if seconds else None


def common_options(f: Callable) -> Callable:
    f = click.option("--target", type=float, default=None, callback=fraction,
                     help="Quality target between 0 and 1 (overrides the task's).")(f)
    f = click.option("--prices", "prices_file", default=None, type=click.Path(exists=True, dir_okay=False),
                     help="TOML price table (cpu_hour, gpu_hour, [models.<name>]).")(f)
    f = click.option("--concurrency", default=4, show_default=True, callback=at_least(1),
                     help="Requests in flight against an HTTP backend (local models run one at a time).")(f)
    f = click.option("--base-url", default=None, help="OpenAI-compatible base URL (else OPENAI_BASE_URL).")(f)
    f = timeout_option(f)
    f = click.option("--db", default=None, help="Run store (SQLite). Default: $LADDER_HOME/runs.db.")(f)
    f = click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")(f)
    f = click.option("--limit", type=int, default=None, callback=at_least(1),
                     help="Score a fixed, seeded sample of N test examples.")(f)
    return f


STALL_SECONDS = 10  # the progress bar says "waiting N s" once no example has finished for this long


@contextlib.contextmanager
def progress_bar(quiet: bool = False) -> Iterator[Callable[[str, str, int], Callable[[int, int], None]]]:
    """Yields start(rung, model, total) -> update(done, total); bars go to stderr."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    import time

    from rich.progress import ProgressColumn
    from rich.text import Text

    class Stalled(ProgressColumn):
        """'waiting 42 s' when no example has finished for a while (a slow or stalled call)."""

        def render(self, task: Any) -> Text:
            idle = time.monotonic() - task.fields.get("last", time.monotonic())
            return Text(f"waiting {idle:.0f} s" if idle >= STALL_SECONDS and not task.finished else "", style="yellow")

    prog = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    TextColumn("eta"), TimeRemainingColumn(), Stalled(), console=console(stderr=True),
                    disable=not sys.stderr.isatty() and quiet)

    def start(rung: str, model: str, total: int) -> Callable[[int, int], None]:
        tid = prog.add_task(f"{rung:<10} {model}", total=total, last=time.monotonic())
        return lambda done, tot: prog.update(tid, completed=done, total=tot, last=time.monotonic())

    with prog:
        yield start


def open_searcher(index_spec: str, rerank_spec: str | None, adapted: bool, progress: bool = True) -> tuple[Any, Any]:
    """The index to search (the adapted one with `adapted`) and its reranker: `rerank_spec`, else the
    adapted cross-encoder, else None."""
    from ladder.retrieval.index import open_index

    reranker = None
    if rerank_spec:  # first: a bad spec is refused before a large index loads
        from ladder.retrieval.rerank import load_reranker

        reranker = load_reranker(rerank_spec)
    index = open_index(index_spec, progress=progress)
    if adapted:
        from ladder.retrieval.adapt import with_adapted

        index, reranker = with_adapted(index, index.path, reranker)
    return index, reranker

"""What a climb will cost before it runs (`ladder climb --dry-run`).

For each (rung, model) of the plan: the number of model calls left to make (test examples
not already in the run store), then tokens, CPU-seconds and dollars extrapolated from a few
timed calls. The timed calls go to the model itself, never the cache, so they are real: a
bundled model is loaded and run on the first `sample` test examples of the seeded sample.

Rungs that train or need a corpus are not compiled (that would be the training or indexing
itself): their per-call cost is timed with a zero-shot prompt on the same model, and a
training rung adds its time budget (`max_minutes` x CPU cores) as one-time CPU-seconds.
Each estimate says which of these it used in `basis`.
"""
from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from ladder.cost import load_prices, usage_cost
from ladder.errors import env_count
from ladder.models.base import Usage
from ladder.task import Task

SAMPLE_CALLS = 3


@dataclass
class Estimate:
    rung: str
    model: str
    calls: int  # model calls still to make (examples not in the store yet)
    cached: int  # examples already scored in the store: free
    tokens: int  # in + out, extrapolated
    cpu_seconds: float  # calls + one-time training budget
    dollars: float | None  # None: an API model without a price
    seconds_per_call: float
    timed_calls: int
    basis: str  # how the per-call numbers were obtained

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def training_cpu_seconds(minutes: float | None) -> float:
    """A training rung's one-time CPU time: its budget in minutes on the cores training uses."""
    cores = env_count("LADDER_THREADS") or os.cpu_count() or 1
    return (minutes or 0.0) * 60 * cores


def extrapolate(timed: list[Usage], calls: int) -> Usage:
    """Usage of `calls` calls from a few timed ones. The first call pays for the shared prompt prefix
    (instruction, demos) that later calls reuse from the KV cache, so it counts once and the
    others stand for the rest.

    >>> extrapolate([Usage(100, 2, 3.0, 3.0), Usage(100, 2, 1.0, 1.0), Usage(100, 2, 1.0, 1.0)], 10)
    Usage(tokens_in=1000, tokens_out=20, seconds=12.0, cpu_seconds=12.0)
    """
    if not timed or calls == 0:
        return Usage()
    first, rest = timed[0], timed[1:] or timed[:1]
    k = len(rest)

    def scale(u: Usage, f: float) -> Usage:
        return Usage(round(u.tokens_in * f), round(u.tokens_out * f), u.seconds * f, u.cpu_seconds * f)

    return first + scale(sum(rest, Usage()), (calls - 1) / k)


def estimate(task: Task, models: list[str] | None = None, rungs: list[str] | None = None, *, store: Any = None,
             limit: int | None = None, options: dict[str, dict[str, Any]] | None = None,
             train_minutes: float | None = None, prices: dict[str, Any] | None = None, base_url: str | None = None,
             sample: int = SAMPLE_CALLS, on_pair: Callable[[str, str], None] | None = None) -> dict[str, Any]:
    """{"pairs": [Estimate...], "skipped": [...], "total": {...}} for the climb these arguments describe."""
    from ladder.advisor import (
        TRAIN_MINUTES,
        default_models,
        plan,
        rung_options,
        why_not,
    )
    from ladder.rungs import rung_names, rung_spec
    from ladder.store import Store

    models = list(models) if models else default_models()
    rungs = list(rungs) if rungs else rung_names()
    options = rung_options(rungs, options, TRAIN_MINUTES if train_minutes is None else train_minutes)
    store = store if store is not None else Store()
    prices = prices or load_prices(task.prices)
    examples = task.test_sample(limit)
    pairs, skipped, loaded = [], [], {}
    for rung, spec in plan(models, rungs):
        reason = why_not(task, rung, spec)
        if reason:
            skipped.append({"rung": rung, "model": spec, "why": reason})
            continue
        if on_pair:
            on_pair(rung, spec)
        pairs.append(_one(task, rung, spec, rung_spec(rung), options.get(rung) or {}, examples, store, prices,
                          base_url, sample, loaded))
    known = [p for p in pairs if p.dollars is not None]
    total = {"calls": sum(p.calls for p in pairs), "tokens": sum(p.tokens for p in pairs),
             "cpu_seconds": sum(p.cpu_seconds for p in pairs), "dollars": sum(p.dollars for p in known),
             "unpriced": [f"{p.rung} / {p.model}" for p in pairs if p.dollars is None]}
    return {"pairs": [p.to_dict() for p in pairs], "skipped": skipped, "total": total, "n_test": len(examples),
            "timed_calls_per_pair": sample}


def _one(task: Task, rung: str, spec: str, rs: Any, opts: dict[str, Any], examples: list[Any], store: Any,
         prices: dict[str, Any], base_url: str | None, sample: int, loaded: dict[str, Any]) -> Estimate:
    from ladder.models import load_model
    from ladder.rungs import get_rung
    from ladder.store import CachedModel, digest

    if spec not in loaded:
        loaded[spec] = load_model(spec, base_url=base_url)
    model = loaded[spec]
    proxy = rs.trains or rs.needs_corpus
    program = get_rung("zero-shot" if proxy else rung)(task, CachedModel(model, store), {} if proxy else dict(opts))
    cached = 0
    if not proxy:
        run_key = digest(task.fingerprint(), program.describe(), model.fingerprint, len(examples), task.judge)
        cached = len(store.predictions(run_key))
    calls = max(0, len(examples) - cached)
    program.model = model  # time the model itself: cached answers would say nothing about cost
    timed = [program(ex).usage for ex in examples[:min(sample, calls)]]
    took = len(timed)
    run = extrapolate(timed, calls)
    per = Usage(run.tokens_in // max(calls, 1), run.tokens_out // max(calls, 1), run.seconds / max(calls, 1),
                run.cpu_seconds / max(calls, 1))
    one_time = training_cpu_seconds(opts.get("max_minutes")) if rs.trains else 0.0
    dollars = usage_cost(run, spec, model.local, prices)
    if dollars is not None and one_time:
        dollars += one_time / 3600 * prices["cpu_hour"]
    basis = f"{took} timed calls" + (" with a zero-shot prompt (not compiled: it would train or index)" if proxy else "")
    if rs.trains:
        basis += f"; training budget {opts.get('max_minutes')} min"
    return Estimate(rung, spec, calls, cached, (per.tokens_in + per.tokens_out) * calls, run.cpu_seconds + one_time,
                    dollars, per.seconds, took, basis)

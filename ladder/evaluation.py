"""evaluate(program, examples, metric) -> EvalResult: one call that returns data.

Scores carry a 95% bootstrap interval; every prediction is kept (and, with a
store, committed as it is made, so an interrupted run resumes where it
stopped). Usage is the cost of producing the predictions, whether they were
computed now or served from the cache, so a report does not change when it is
re-run; `fresh_seconds` is what this invocation actually spent.
"""
from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from ladder.metrics import corpus_stat, is_corpus_metric, per_example_fn
from ladder.models.base import Completion, PromptTooLong, Usage
from ladder.stats import bootstrap_ci  # noqa: F401 (one bootstrap, in ladder.stats; re-exported for old imports)
from ladder.task import Example

BOOTSTRAP_SAMPLES = 1000


@dataclass
class EvalResult:
    metric: str
    score: float
    ci_low: float
    ci_high: float
    n: int
    rows: list[dict[str, Any]] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)  # summed over examples
    latency_p50: float = 0.0
    latency_p95: float = 0.0
    errors: int = 0
    cached: int = 0
    fresh_seconds: float = 0.0

    def summary(self) -> dict[str, Any]:
        d = {k: getattr(self, k) for k in ("metric", "score", "ci_low", "ci_high", "n", "latency_p50",
                                            "latency_p95", "errors", "cached", "fresh_seconds")}
        return {**d, **self.usage.to_dict()}


def evaluate(
    program: Callable[[Example], Completion],
    examples: list[Example],
    metric: str,
    *,
    expected: Callable[[Example], Any],
    render: Callable[[Example], str] = str,
    source: Callable[[Example], str] | None = None,
    store: Any = None,
    run_key: str | None = None,
    concurrency: int = 1,
    progress: Callable[[int, int], None] | None = None,
    scorer: Callable[[str, Any, Example], float] | None = None,
) -> EvalResult:
    """Run `program` on every example and score it. `scorer` overrides the per-example metric (e.g. a judge).

    With a store, examples are claimed a few at a time before they are computed, so two processes on the
    same run share the work; an input the model cannot take (PromptTooLong) becomes an error row (scored
    as wrong, counted in `errors`, left out of the latency percentiles) and the run goes on.
    """
    t0 = time.perf_counter()
    shared = store is not None and bool(run_key)
    done: dict[int, dict[str, Any]] = store.predictions(run_key) if shared else {}
    fn = scorer or _scorer(metric, source or render)
    if progress:
        progress(len(done), len(examples))

    def one(i: int) -> dict[str, Any]:
        return _answer(program, examples[i])

    def record(i: int, r: dict[str, Any]) -> None:
        ex = examples[i]
        r["score"] = _score(fn, metric, r["output"], expected(ex), ex, i) if fn else None
        if shared:
            store.put_prediction(run_key, i, r["output"], r["score"], r["usage"], r["error"])
        done[i] = r
        if progress:
            progress(len(done), len(examples))

    def compute(batch: list[int]) -> None:
        if concurrency > 1 and len(batch) > 1:
            with ThreadPoolExecutor(min(concurrency, len(batch))) as pool:
                for i, r in zip(batch, pool.map(one, batch)):
                    record(i, r)
        else:
            for i in batch:
                record(i, one(i))

    if shared:
        _share_work(store, run_key, len(examples), done, compute, max(concurrency, 1) * 2, progress)
    else:
        compute([i for i in range(len(examples)) if i not in done])

    rows = []
    for i, ex in enumerate(examples):
        r = done[i]
        rows.append({"idx": i, "input": render(ex), "expected": expected(ex), "output": r["output"],
                     "score": r["score"], "usage": r["usage"], "error": r.get("error"), "cached": r.get("cached", True)})
    return _result(metric, rows, time.perf_counter() - t0)


def _answer(program: Callable[[Example], Completion], ex: Example) -> dict[str, Any]:
    """One example's answer row; an input the model cannot take is an error row, not a crash."""
    try:
        out = program(ex)
    except PromptTooLong as e:  # one over-long input must not sink the run
        return {"output": "", "usage": Usage().to_dict(), "error": str(e), "cached": False}
    return {"output": out.text, "usage": out.usage.to_dict(), "error": None, "cached": out.cached}


def _result(metric: str, rows: list[dict[str, Any]], seconds: float) -> EvalResult:
    """Score, 95% interval, usage and latency percentiles over the rows."""
    preds = [r["output"] for r in rows]
    refs = [r["expected"] for r in rows]
    if is_corpus_metric(metric):
        stat = corpus_stat(metric, preds, refs)
        idx = np.arange(len(rows))
        score = stat(idx)
        lo, hi = bootstrap_ci(idx, stat)
    else:
        vals = np.array([r["score"] for r in rows], dtype=float)
        score = float(vals.mean()) if len(vals) else 0.0
        lo, hi = bootstrap_ci(vals)
    usage = sum((Usage.from_dict(r["usage"]) for r in rows), Usage())
    # an errored example took no model time: its 0 s would pull the percentiles down
    lat = np.array([r["usage"]["seconds"] for r in rows if not r["error"]]) if rows else np.zeros(1)
    if not len(lat):
        lat = np.zeros(1)
    return EvalResult(
        metric, score, lo, hi, len(rows), rows, usage,
        float(np.percentile(lat, 50)), float(np.percentile(lat, 95)),
        sum(1 for r in rows if r["error"]), sum(1 for r in rows if r["cached"]), seconds,
    )


def _scorer(metric: str, source: Callable[[Example], str]) -> Callable[[str, Any, Example], float] | None:
    f = per_example_fn(metric)
    if f is None:
        return None
    if getattr(f, "needs_source", False):
        return lambda pred, ref, ex: float(f(pred, ref, source=source(ex)))
    return lambda pred, ref, ex: float(f(pred, ref))


def _score(fn: Callable[[str, Any, Example], float], metric: str, output: str, ref: Any, ex: Example, i: int) -> float:
    """One example's score; a metric that raises is a TaskError naming it and the example (the run fails)."""
    try:
        return fn(output, ref, ex)
    except Exception as e:  # a user's metric or judge: report it, never a traceback
        from ladder.errors import LadderError, TaskError

        if isinstance(e, LadderError):
            raise
        raise TaskError(f"metric '{metric}' failed on test example {i + 1} ({type(e).__name__}: {e}); "
                        "a metric is f(prediction: str, reference) -> number") from None


def _share_work(store: Any, run_key: str, n: int, done: dict[int, dict[str, Any]],
                compute: Callable[[list[int]], None], batch: int,
                progress: Callable[[int, int], None] | None) -> None:
    """Claim a batch of examples nobody has done or is doing, compute it, repeat; when everything left is
    claimed by another live process, wait for its predictions. Ends with every example in `done`."""
    from ladder.store import new_owner

    owner = new_owner()
    try:
        while len(done) < n:
            todo = [i for i in range(n) if i not in done]
            mine = store.claim(run_key, todo, owner, batch)
            if mine:
                compute(mine)
                continue
            time.sleep(0.2)  # the rest is being computed elsewhere: take its predictions as they land
            for i, r in store.predictions(run_key).items():
                if i not in done and i < n:
                    done[i] = r
            if progress:
                progress(len(done), n)
    finally:
        store.release(run_key, owner)

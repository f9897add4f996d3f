"""The advisor: rungs in cost order, each across models small -> large; stop at the first
(rung, model) whose score reaches the target (unless asked for all), then recommend the
cheapest row that is good enough.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

from ladder.cost import amortised_per_1k, load_prices, per_1k, usage_cost
from ladder.errors import LadderError
from ladder.evaluation import EvalResult, evaluate
from ladder.models import is_local, load_model, model_size
from ladder.rungs import get_rung, rung_names, rung_spec
from ladder.rungs.base import Program
from ladder.store import CachedModel, Store, digest
from ladder.task import Task

TRAIN_MINUTES = 10.0  # a climb is a survey: each training rung gets this budget unless told otherwise


@dataclass
class Row:
    rung: str
    model: str
    metric: str
    score: float
    ci_low: float
    ci_high: float
    n: int
    tokens_in: int
    tokens_out: int
    seconds: float
    cpu_seconds: float
    latency_p50: float
    latency_p95: float
    cost_per_1k: float | None
    one_time_cost: float
    amortised_per_1k: float | None
    meets_target: bool | None
    model_hash: str
    config: dict[str, Any] = field(default_factory=dict)
    errors: int = 0
    cached: int = 0


@dataclass
class ClimbResult:
    task: dict[str, Any]
    rows: list[Row]
    recommendation: str
    best: Row | None
    pretrain_at_scale: dict[str, Any] | None = None
    skipped: list[dict[str, str]] = field(default_factory=list)  # (rung, model) pairs that cannot apply, and why
    verdict: dict[str, Any] | None = None  # ladder.verdict.Verdict.to_dict(): paired tests, costs, Pareto front
    not_run: list[dict[str, str]] = field(default_factory=list)  # pairs a budget stopped before they ran
    run_dir: str | None = None  # runs/<id>/ when the climb wrote one
    best_index: int | None = None
    evals: list[EvalResult] = field(default_factory=list, repr=False)  # per row, with every prediction
    programs: list[Program] = field(default_factory=list, repr=False)  # per row, to save or serve

    def to_dict(self) -> dict[str, Any]:
        return {"task": self.task, "rows": [asdict(r) for r in self.rows], "recommendation": self.recommendation,
                "best": asdict(self.best) if self.best else None, "best_index": self.best_index,
                "verdict": self.verdict, "pretrain_at_scale": self.pretrain_at_scale,
                "skipped": self.skipped, "not_run": self.not_run, "run_dir": self.run_dir}


def run_rung(task: Task, rung: str, model_spec: str, **kw: Any) -> tuple[Row, EvalResult]:
    """Compile one rung with one model, evaluate it on the (sampled) test split, and cost it."""
    row, res, _ = run_program(task, rung, model_spec, **kw)
    return row, res


def run_program(task: Task, rung: str, model_spec: str, *, store: Store, options: dict[str, Any] | None = None,
                limit: int | None = None, concurrency: int = 1, prices: dict[str, Any] | None = None,
                progress: Callable[[int, int], None] | None = None,
                base_url: str | None = None) -> tuple[Row, EvalResult, Program]:
    """run_rung, also handing back the compiled program (to save it in the run directory)."""
    prices = prices or load_prices(task.prices)
    model = CachedModel(load_model(model_spec, base_url=base_url), store)
    program: Program = get_rung(rung)(task, model, dict(options or {}))
    examples = task.test_sample(limit)
    scorer = None
    if task.metric == "judge":
        from ladder.judge import make_judge

        scorer = make_judge(task, store, base_url=base_url)
    run_key = digest(task.fingerprint(), program.describe(), model.fingerprint, len(examples), task.judge)
    store.start_run(run_key, task=task.name, task_fp=task.fingerprint(), rung=rung, model=model_spec,
                    model_fp=model.fingerprint, config=program.describe(), n=len(examples))
    try:
        res = evaluate(program, examples, task.metric, **task.scoring(), store=store,
                       run_key=run_key, concurrency=concurrency if not model.local else 1, progress=progress,
                       scorer=scorer)
    except (Exception, KeyboardInterrupt) as e:  # the store must never keep a dead run as 'running'
        interrupted = isinstance(e, KeyboardInterrupt)
        store.fail_run(run_key, "interrupted" if interrupted else f"{type(e).__name__}: {e}",
                       "interrupted" if interrupted else "failed")
        raise
    row = to_row(task, rung, model_spec, model, program, res, prices)
    store.finish_run(run_key, asdict(row))
    return row, res, program


def to_row(task: Task, rung: str, spec: str, model: Any, program: Program, res: EvalResult,
           prices: dict[str, Any]) -> Row:
    running = per_1k(usage_cost(res.usage, spec, model.local, prices), res.n)
    one_time = usage_cost(program.one_time, spec, True, prices) or 0.0
    return Row(
        rung=rung, model=spec, metric=res.metric, score=res.score, ci_low=res.ci_low, ci_high=res.ci_high, n=res.n,
        tokens_in=res.usage.tokens_in, tokens_out=res.usage.tokens_out, seconds=res.usage.seconds,
        cpu_seconds=res.usage.cpu_seconds, latency_p50=res.latency_p50, latency_p95=res.latency_p95,
        cost_per_1k=running, one_time_cost=one_time, amortised_per_1k=amortised_per_1k(running, one_time, task.requests),
        meets_target=None if task.target is None else res.score >= task.target,
        model_hash=model.fingerprint, config={k: v for k, v in program.describe().items() if k not in ("rung", "model")},
        errors=res.errors, cached=res.cached,
    )


def plan(models: list[str], rungs: list[str]) -> list[tuple[str, str]]:
    """(rung, model) pairs in climbing order: rungs by cost rank, models small -> large."""
    order = sorted(dict.fromkeys(rungs), key=lambda r: rung_spec(r).cost_rank)
    by_size = sorted(models, key=model_size)
    return [(r, m) for r in order for m in by_size]


def why_not(task: Task, rung: str, spec: str) -> str | None:
    """Why a (rung, model) pair cannot run on this task, or None when it can (the rung's record says)."""
    return rung_spec(rung).why_not(task, is_local(spec))


def default_models() -> list[str]:
    """The bundled chat models that are installed, small to large."""
    from ladder.models.bundled import DEFAULT_MODELS, is_installed

    found = [m for m in DEFAULT_MODELS if is_installed(m)]
    if not found:
        raise LadderError("no models to climb with; install the bundled ones ('make install') or name some "
                          "(--models, or climb(models=[...]))")
    return found


def rung_options(rungs: list[str], options: dict[str, dict[str, Any]] | None,
                 train_minutes: float | None) -> dict[str, dict[str, Any]]:
    """Each rung's options, checked against its record; training rungs get the time budget unless set."""
    out = {}
    for r in rungs:
        opts = dict((options or {}).get(r) or {})
        if rung_spec(r).trains and train_minutes is not None:
            opts.setdefault("max_minutes", train_minutes)
        out[r] = rung_spec(r).check_options(opts)
    return out


def climb(task: Task, models: list[str] | None = None, rungs: list[str] | None = None, *, store: Store | None = None,
          all_rows: bool = False, options: dict[str, dict[str, Any]] | None = None, limit: int | None = None,
          train_minutes: float | None = TRAIN_MINUTES, concurrency: int = 4, prices: dict[str, Any] | None = None,
          on_start: Callable[[str, str, int], Callable[[int, int], None]] | None = None,
          on_row: Callable[[Row], None] | None = None, base_url: str | None = None,
          volume: float | None = None, meets: str = "lower", horizon_months: int | None = None,
          budget_minutes: float | None = None, budget_usd: float | None = None,
          runs_dir: str | Path | None = None, task_file: str | None = None) -> ClimbResult:
    """Climb: every registered rung that applies (or `rungs`) across `models` (default: the installed
    bundled chat models), cheapest first; stop at the first row that reaches the target unless
    `all_rows`. The same defaults as `ladder climb`, except that the library writes a run directory
    only when given `runs_dir` (the CLI passes runs/).

    The verdict (ladder.verdict) prices rows at `volume` requests/month (default: the task's
    `requests`), amortising one-time costs over `horizon_months` (12); "meets the target" is by the
    interval's lower bound (`meets="lower"`) or the mean (`"mean"`). `budget_minutes` / `budget_usd`
    stop the climb between rows (USD = each row's running cost over its test sample plus its
    one-time cost); the pairs left are listed in `not_run`.
    """
    models = list(models) if models else default_models()
    rungs = list(rungs) if rungs else rung_names()
    options = rung_options(rungs, options, train_minutes)
    store = store if store is not None else Store()
    prices = prices or load_prices(task.prices)
    done = _Climbed()
    started = time.monotonic()
    for rung, spec in plan(models, rungs):
        over = over_budget(time.monotonic() - started, done.spent, budget_minutes, budget_usd)
        if over:
            done.not_run.append({"rung": rung, "model": spec, "why": over})
            continue
        reason = why_not(task, rung, spec)
        if reason:
            done.skipped.append({"rung": rung, "model": spec, "why": reason})
            continue
        progress = on_start(rung, spec, len(task.test_sample(limit))) if on_start else None
        try:
            row, res, program = run_program(task, rung, spec, store=store, options=options.get(rung), limit=limit,
                                            concurrency=concurrency, prices=prices, progress=progress,
                                            base_url=base_url)
        except LadderError as e:
            if not (rung_spec(rung).trains or rung_spec(rung).needs_corpus):
                raise  # a prompting rung failed: a bad model or task, so nothing later can work either
            # a higher rung that refuses this task (too little data, memory, a missing package, a leak)
            # must not throw away the rows already measured
            done.skipped.append({"rung": rung, "model": spec, "why": str(e)})
            continue
        done.add(row, res, program)
        if on_row:
            on_row(row)
        if reaches(row, task.target, meets) and not all_rows:
            break
    volume = volume if volume is not None else (task.requests or None)
    result = _result(task, models, done, prices, limit, volume, meets, horizon_months)
    if runs_dir is not None:
        from ladder.rundir import write_run

        result.run_dir = str(write_run(runs_dir, result.to_dict(), [e.rows for e in done.evals], done.programs,
                                       task_file=task_file, best=result.best_index))
    return result


@dataclass
class _Climbed:
    """What a climb has measured so far, and what it did not run (and why)."""

    rows: list[Row] = field(default_factory=list)
    evals: list[EvalResult] = field(default_factory=list)
    programs: list[Program] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)  # cannot apply, or refused the task
    not_run: list[dict[str, str]] = field(default_factory=list)  # left when a budget ran out
    spent: float = 0.0  # USD: each row's running cost over its sample plus its one-time cost

    def add(self, row: Row, res: EvalResult, program: Program) -> None:
        self.rows.append(row)
        self.evals.append(res)
        self.programs.append(program)
        self.spent += (row.cost_per_1k or 0.0) * row.n / 1000 + row.one_time_cost


def _result(task: Task, models: list[str], done: _Climbed, prices: dict[str, Any], limit: int | None,
            volume: float | None, meets: str, horizon_months: int | None) -> ClimbResult:
    """The verdict over the measured rows, as the ClimbResult the table, report and run directory show."""
    unavailable = {r for r in rung_names() if all(why_not(task, r, m) for m in models)}
    best, text, v = recommend(task, done.rows, unavailable=unavailable, predictions=[e.rows for e in done.evals],
                              volume=volume, meets=meets, horizon_months=horizon_months)
    if v is not None:
        for r, ok in zip(done.rows, v.meets):  # the table says what the verdict used (lower bound or mean)
            r.meets_target = ok
    info = {"name": task.name, "source": task.source, "metric": task.metric, "target": task.target,
            "n_test": len(task.test_sample(limit)), "n_train": len(task.train), "fingerprint": task.fingerprint(),
            "requests": task.requests, "volume_per_month": volume, "prices": {"cpu_hour": prices["cpu_hour"]}}
    return ClimbResult(info, done.rows, text, best, pretrain_at_scale(models), done.skipped,
                       verdict=v.to_dict() if v else None, not_run=done.not_run, best_index=v.best if v else None,
                       evals=done.evals, programs=done.programs)


def reaches(row: Row, target: float | None, meets: str = "lower") -> bool:
    """Does the row meet the target, by its interval's lower bound or by its mean?"""
    return target is not None and (row.ci_low if meets == "lower" else row.score) >= target


def over_budget(elapsed: float, spent: float, minutes: float | None, usd: float | None) -> str | None:
    """Why the climb must stop before the next row, or None.

    >>> over_budget(3700, 0.0, 60, None)
    'budget: 61.7 of 60 minutes used'
    >>> over_budget(10, 0.5, None, 0.25), over_budget(10, 0.1, 60, 0.25)
    ('budget: $0.5000 of $0.25 spent', None)
    """
    if minutes is not None and elapsed >= minutes * 60:
        return f"budget: {elapsed / 60:.1f} of {minutes:g} minutes used"
    if usd is not None and spent >= usd:
        return f"budget: ${spent:.4f} of ${usd:g} spent"
    return None


def pretrain_at_scale(models: list[str], gpu: str = "h100", n_gpus: int = 8) -> dict[str, Any] | None:
    """The top rung's real price: pretraining a model the size of the largest bundled one climbed,
    at the compute-optimal token count and at the count its makers used (`ladder plan-pretrain`)."""
    from ladder.models.bundled import BUNDLED
    from ladder.train.plan import plan as plan_cost

    known = [BUNDLED[m] for m in models if m in BUNDLED]
    if not known:
        return None
    like = max(known, key=lambda b: b.params)

    def budget(p: Any) -> dict[str, Any]:
        return {"tokens": p.tokens, "gpu_hours": round(p.gpu_hours, 1), "days": round(p.days, 2),
                "dollars": round(p.dollars, 2)}

    optimal = plan_cost(like.params, gpu=gpu, n_gpus=n_gpus)  # compute-optimal: ~20 tokens per parameter
    out: dict[str, Any] = {"like": like.name, "params": like.params, "gpu": gpu, "n_gpus": n_gpus,
                           "mfu": optimal.mfu, "usd_per_gpu_hour": optimal.usd_per_gpu_hour,
                           "compute_optimal": budget(optimal)}
    if like.pretrain_tokens:
        out["as_its_makers"] = budget(plan_cost(like.params, like.pretrain_tokens, gpu=gpu, n_gpus=n_gpus))
    return out


def scale_note(scale: dict[str, Any] | None) -> str:
    """One sentence for the report under the table."""
    if not scale:
        return ""
    from ladder.train.plan import human

    def part(b: dict[str, Any]) -> str:
        return f"{human(b['gpu_hours'])} {scale['gpu'].upper()}-hours (${human(b['dollars'])}) on {human(b['tokens'])} tokens"

    text = (f"Pretraining your own {scale['like']}-sized model ({human(scale['params'])} parameters) would take "
            f"{part(scale['compute_optimal'])}, compute-optimal")
    if "as_its_makers" in scale:
        text += f"; {part(scale['as_its_makers'])} as its makers trained it"
    return (text + f" (MFU {scale['mfu']:.0%}, ${scale['usd_per_gpu_hour']:.2f}/GPU-hour; "
            "details: ladder plan-pretrain).")


def recommend(task: Task, rows: list[Row], unavailable: set[str] = frozenset(), *,
              predictions: list[list[dict[str, Any]]] | None = None, volume: float | None = None,
              meets: str = "lower", horizon_months: int | None = None) -> tuple[Row | None, str, Any]:
    """The verdict (ladder.verdict.decide) over the rows' paired per-example scores, plus what to
    climb next when nothing reaches the target. Returns (best row, plain words, Verdict)."""
    from ladder.verdict import HORIZON_MONTHS, decide

    if not rows:
        return None, "Nothing was evaluated.", None
    tried = {r.rung for r in rows}
    nxt = [r for r in rung_names() if r not in tried and r not in unavailable]
    hint = (f"Climb further: try {', '.join(nxt[:2])}" if nxt else "Try a larger model (e.g. an OpenAI-compatible server)")
    hint += ", add training examples, or revisit the target."
    v = decide(rows, predictions if predictions is not None else [[] for _ in rows], target=task.target,
               volume_per_month=volume, horizon_months=horizon_months or HORIZON_MONTHS, meets=meets, hint=hint)
    best = rows[v.best] if v.best is not None else None
    return best, v.text, v

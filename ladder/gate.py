"""CI gating: compare two runs example by example, and check a saved program against a target
and a baseline run (`ladder compare`, `ladder check`).

    diff = compare("runs/A", "runs/B")                 # paired b - a, and the examples that changed
    result = check(task, load("runs/B/best"), baseline="runs/A", target=0.8)
    result.passed, junit_xml(result)

A check fails when the program's interval lower bound (or mean, `meets="mean"`) is below the
target, when a paired test says it is worse than the baseline's recommended row on the same
examples, or when examples errored.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from ladder.errors import LadderError
from ladder.verdict import compare_predictions


def _changed(a: list[dict[str, Any]], b: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for k, (x, y) in enumerate(zip(a, b)):
        if x.get("score") != y.get("score") or str(x.get("output", "")).strip() != str(y.get("output", "")).strip():
            out.append({"idx": x.get("idx", k), "input": x.get("input"), "expected": x.get("expected"),
                        "a_output": x.get("output"), "a_score": x.get("score"),
                        "b_output": y.get("output"), "b_score": y.get("score")})
    return out


def same_examples(a: list[dict[str, Any]], b: list[dict[str, Any]], what: str) -> None:
    """Refuse to pair rows that scored different examples (another limit, seed or test split)."""
    if len(a) != len(b):
        raise LadderError(f"{what}: {len(a)} vs {len(b)} examples; a paired comparison needs the same test sample "
                          "(same task, same --limit)")
    for k, (x, y) in enumerate(zip(a, b)):
        if str(x.get("input")) != str(y.get("input")):
            raise LadderError(f"{what}: example {k} differs ({str(x.get('input'))[:60]!r} vs "
                              f"{str(y.get('input'))[:60]!r}); use the same task and --limit")


def compare(a_path: str, b_path: str) -> dict[str, Any]:
    """Paired b - a for two run directories (their recommended rows) or two row folders."""
    from ladder.rundir import find_row

    ra, pa, _ = find_row(a_path)
    rb, pb, _ = find_row(b_path)
    same_examples(pa, pb, f"{a_path} vs {b_path}")
    t = compare_predictions(pa, pb, ra.get("metric") or "macro_f1")
    changed = _changed(pa, pb)
    return {"a": {"path": str(a_path), "rung": ra["rung"], "model": ra["model"], "score": ra["score"]},
            "b": {"path": str(b_path), "rung": rb["rung"], "model": rb["model"], "score": rb["score"]},
            "metric": rb.get("metric"), "test": t.to_dict(), "changed": changed,
            "gained": sum(1 for c in changed if (c["b_score"] or 0) > (c["a_score"] or 0)),
            "lost": sum(1 for c in changed if (c["b_score"] or 0) < (c["a_score"] or 0))}


@dataclass
class Check:
    name: str
    passed: bool
    message: str
    data: dict[str, Any] = field(default_factory=dict)


@dataclass
class CheckResult:
    program: str
    score: float
    ci_low: float
    ci_high: float
    n: int
    metric: str
    checks: list[Check]
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "passed": self.passed}


def check(task: Any, program: Any, *, baseline: str | None = None, target: float | None = None,
          meets: str = "lower", limit: int | None = None, store: Any = None) -> CheckResult:
    """Score `program` (a ladder.saved.SavedProgram or a Program) on the task's seeded test sample
    and run the checks. With a baseline run, the sample is the baseline's (same size, same order)."""
    from ladder.evaluation import evaluate
    from ladder.rundir import find_row
    from ladder.store import CachedModel

    inner = getattr(program, "program", program)
    base_row = base_preds = None
    if baseline:
        base_row, base_preds, _ = find_row(baseline)
        if limit is None:
            limit = len(base_preds)
    examples = task.test_sample(limit)
    if store is not None and not isinstance(inner.model, CachedModel):
        inner.model = CachedModel(inner.model, store)
    res = evaluate(inner, examples, task.metric, **task.scoring())
    checks: list[Check] = []
    target = task.target if target is None else target
    if target is not None:
        value = res.ci_low if meets == "lower" else res.score
        what = "95% interval lower bound" if meets == "lower" else "mean score"
        checks.append(Check("target", value >= target,
                            f"{what} {value:.3f} {'>=' if value >= target else '<'} target {target} "
                            f"(score {res.score:.3f} [{res.ci_low:.3f}, {res.ci_high:.3f}], n = {res.n})",
                            {"value": value, "target": target, "meets_by": meets}))
    if base_preds is not None:
        same_examples(base_preds, res.rows, f"--baseline {baseline}")
        t = compare_predictions(base_preds, res.rows, task.metric)
        worse = t.significant and t.diff < 0
        checks.append(Check("baseline", not worse,
                            f"vs baseline {base_row['rung']} / {base_row['model']} ({base_row['score']:.3f}): "
                            f"{t.words()}" + (": significantly worse" if worse else ": not worse"),
                            {"baseline": baseline, **t.to_dict()}))
    checks.append(Check("errors", res.errors == 0, f"{res.errors} of {res.n} examples errored", {"errors": res.errors}))
    name = str(getattr(program, "path", "")) or f"{inner.rung} program"
    return CheckResult(name, res.score, res.ci_low, res.ci_high, res.n, res.metric, checks, res.fresh_seconds)


def junit_xml(result: CheckResult, suite: str = "ladder check") -> str:
    """JUnit XML: one testcase per check, a <failure> for each failed one (CI systems read this)."""
    fails = sum(1 for c in result.checks if not c.passed)
    cases = []
    for c in result.checks:
        body = "" if c.passed else f"<failure message={quoteattr(c.message)}>{escape(c.message)}</failure>"
        cases.append(f'  <testcase classname="ladder.check" name={quoteattr(c.name)} time="0">{body}'
                     f"<system-out>{escape(c.message)}</system-out></testcase>")
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<testsuites>\n<testsuite name={quoteattr(suite)} '
            f'tests="{len(result.checks)}" failures="{fails}" errors="0" time="{result.seconds:.3f}">\n'
            f'  <properties><property name="program" value={quoteattr(result.program)}/>'
            f'<property name="score" value="{result.score:.4f}"/><property name="n" value="{result.n}"/></properties>\n'
            + "\n".join(cases) + "\n</testsuite>\n</testsuites>\n")

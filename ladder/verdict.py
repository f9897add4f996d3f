"""The verdict: from a climb's rows to a decision a team can defend.

Every row of a climb is scored on the same seeded test sample, so two rows are
compared *paired*, example by example (`ladder.stats`): McNemar for 0/1 scores,
the paired bootstrap otherwise (over indices for a corpus metric such as
macro-F1). The rules, in plain words:

- Cost of a row = what it costs per request at the user's volume plus its one-time
  cost (training) spread over `horizon_months` (default 12) of that volume.
- "Meets the target" is judged by the interval's lower bound by default
  (`meets="lower"`), or by the mean (`meets="mean"`); the text says which.
- With a target: the cheapest row that meets it. Without one (or when none does):
  the best-scoring row, unless a cheaper row is statistically tied with it, in which
  case the cheaper one, and the text says so.
- The quality-vs-cost Pareto front is named; each training row gets the volume at
  which its one-time cost is paid back; a fine-tuned small model is weighed against
  a larger prompted one; a tie on too few examples says how many more would decide it.
"""
from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, is_dataclass
from typing import Any

from ladder.errors import LadderError
from ladder.stats import (
    PairedTest,
    diff_sd,
    examples_needed,
    min_detectable_effect,
    paired_bootstrap_stat,
    paired_test,
    pareto_front,
)

HORIZON_MONTHS = 12  # one-time costs are amortised over a year of traffic unless told otherwise
DAYS_PER_MONTH = 30
PROMPTED = ("zero-shot", "few-shot", "rag")  # rungs that train nothing
MEETS = ("lower", "mean")


def parse_volume(text: str | float) -> float:
    """Requests per month from '100000/month', '3k/day', '1e5' (a plain number is per month).

    >>> parse_volume("100000/month"), parse_volume("2k/day"), parse_volume(5e4)
    (100000.0, 60000.0, 50000.0)
    """
    if isinstance(text, (int, float)):
        number, unit = float(text), "month"
    else:
        m = re.fullmatch(r"\s*([0-9.eE+_]+)\s*([kKmM]?)\s*(?:/\s*(day|month|d|mo))?\s*", str(text))
        if not m:
            raise LadderError(f"--volume '{text}': expected a number of requests, e.g. 100000/month or 3000/day")
        try:
            number = float(m.group(1).replace("_", "")) * {"": 1, "k": 1e3, "m": 1e6}[m.group(2).lower()]
        except ValueError:
            raise LadderError(f"--volume '{text}': '{m.group(1)}' is not a number") from None
        unit = {"d": "day", "mo": "month", None: "month"}.get(m.group(3), m.group(3))
    if number <= 0:
        raise LadderError(f"--volume '{text}': must be more than 0 requests")
    return number * (DAYS_PER_MONTH if unit == "day" else 1)


def label(row: dict[str, Any]) -> str:
    return f"{row['rung']} / {row['model']}"


def money(x: float | None) -> str:
    """Dollars for a sentence, with three significant digits below a cent.

    >>> money(0.00123), money(0.0000139), money(0.25), money(12.5), money(None)
    ('$0.00123', '$0.0000139', '$0.2500', '$12.50', 'unpriced')
    """
    if x is None:
        return "unpriced"
    if abs(x) >= 1:
        return f"${x:,.2f}"
    if abs(x) >= 0.01 or x == 0:
        return f"${x:.4f}"
    return f"${x:.{2 - math.floor(math.log10(abs(x)))}f}"


@dataclass
class Verdict:
    best: int | None  # index into rows
    text: str
    meets_by: str
    target: float | None
    volume_per_month: float | None
    horizon_months: int
    costs: list[dict[str, Any]]  # per row: per_1k, one_time, amortised_per_1k, monthly
    meets: list[bool | None]
    pareto: list[int]
    comparisons: list[dict[str, Any]] = field(default_factory=list)
    payback: list[dict[str, Any]] = field(default_factory=list)
    finetune_vs_prompt: dict[str, Any] | None = None
    sentences: list[str] = field(default_factory=list)
    headline: str = ""  # the decision in a few words, e.g. "Use few-shot / qwen2.5-coder-0.5b."

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def row_cost(row: dict[str, Any], volume: float | None, horizon: int) -> dict[str, Any]:
    """Per 1,000 requests (running), one-time, amortised per 1,000 at the volume, and per month.

    >>> row_cost({"cost_per_1k": 0.5, "one_time_cost": 12.0}, 1000, 12)["amortised_per_1k"]  # +1 per request
    1.5
    """
    per_1k, one = row.get("cost_per_1k"), float(row.get("one_time_cost") or 0.0)
    if per_1k is None:
        return {"per_1k": None, "one_time": one, "amortised_per_1k": None, "monthly": None}
    total = (volume or 0) * horizon
    amort = per_1k + (one / total * 1000 if total else 0.0)
    monthly = per_1k * (volume or 0) / 1000 + one / horizon if volume else None
    return {"per_1k": per_1k, "one_time": one, "amortised_per_1k": amort, "monthly": monthly}


def compare_predictions(a: Sequence[dict[str, Any]], b: Sequence[dict[str, Any]], metric: str = "macro_f1") -> PairedTest:
    """b - a over two rows' predictions on the same examples: McNemar for 0/1 scores, the paired
    bootstrap for other per-example scores, and over resampled indices for a corpus metric (no
    per-example scores, e.g. macro-F1)."""
    if len(a) != len(b):
        raise LadderError(f"the two rows scored different numbers of examples ({len(a)} vs {len(b)}); "
                          "a paired comparison needs the same examples")
    sa, sb = [r.get("score") for r in a], [r.get("score") for r in b]
    if None not in sa and None not in sb:
        return paired_test(sa, sb)
    from ladder.metrics import corpus_stat

    refs = [r["expected"] for r in a]
    return paired_bootstrap_stat(corpus_stat(metric, [r["output"] for r in a], refs),
                                 corpus_stat(metric, [r["output"] for r in b], refs), len(a))


class _Pairs:
    """Paired tests between rows, computed once each (b - a: positive means b is better)."""

    def __init__(self, rows: list[dict[str, Any]], predictions: list[list[dict[str, Any]]], metric: str):
        self.rows, self.preds, self.metric, self.done = rows, predictions, metric, {}

    def test(self, i: int, j: int) -> PairedTest | None:
        if (i, j) not in self.done:
            a, b = self.preds[i], self.preds[j]
            self.done[(i, j)] = compare_predictions(a, b, self.metric) if a and b and len(a) == len(b) else None
        return self.done[(i, j)]

    def record(self, i: int, j: int, why: str) -> dict[str, Any] | None:
        t = self.test(i, j)
        if t is None:
            return None
        out = {"a": label(self.rows[i]), "b": label(self.rows[j]), "a_index": i, "b_index": j, "why": why,
               **t.to_dict(), "examples_needed": None, "more_examples_needed": None, "mde": None}
        sa = [r.get("score") for r in self.preds[i]]
        sb = [r.get("score") for r in self.preds[j]]
        if None not in sa and None not in sb and not t.significant:
            sd = diff_sd(sa, sb)
            out["mde"] = min_detectable_effect(sd, t.n) if sd > 0 else None
            need = examples_needed(t.diff, sd)
            out["examples_needed"] = need
            out["more_examples_needed"] = max(0, need - t.n) if need else None
        return out


def tie_words(c: dict[str, Any]) -> str:
    """How many more examples would separate a tied pair."""
    if c.get("significant"):
        return ""
    if c["b_wins"] == 0 and c["a_wins"] == 0 and c["method"] == "mcnemar":
        return " They agree on every test example."
    if c.get("more_examples_needed"):
        return (f" n = {c['n']} is too few to tell them apart: if the observed difference is real, about "
                f"{c['more_examples_needed']:,} more test examples (n ≈ {c['examples_needed']:,}) would show it at 80% power.")
    if c.get("mde") is not None:
        return f" With n = {c['n']}, only a difference of {c['mde']:.3f} or more would be detected reliably (80% power)."
    return ""


def decide(rows: Sequence[Any], predictions: Sequence[Sequence[dict[str, Any]]], *, target: float | None = None,
           volume_per_month: float | None = None, horizon_months: int = HORIZON_MONTHS, meets: str = "lower",
           hint: str = "") -> Verdict:
    """The decision over `rows` (Row objects or dicts), given each row's per-example predictions
    (dicts with score, output, expected; the same examples in the same order for every row)."""
    if meets not in MEETS:
        raise LadderError(f"--meets '{meets}': choose one of {', '.join(MEETS)}")
    rs = [asdict(r) if is_dataclass(r) else dict(r) for r in rows]
    if len(predictions) != len(rs):
        raise ValueError(f"{len(rs)} rows but {len(predictions)} prediction lists")
    costs = [row_cost(r, volume_per_month, horizon_months) for r in rs]
    bound = "ci_low" if meets == "lower" else "score"
    ok = [None if target is None else r[bound] >= target for r in rs]
    v = Verdict(None, "", meets, target, volume_per_month, horizon_months, costs, ok,
                pareto_front([(c["amortised_per_1k"], r["score"]) for c, r in zip(costs, rs)]))
    if not rs:
        v.text = v.headline = "Nothing was evaluated."
        return v
    pairs = _Pairs(rs, [list(p) for p in predictions], rs[0].get("metric", ""))

    def cost(i: int) -> float:
        c = costs[i]["amortised_per_1k"]
        return math.inf if c is None else c

    top = max(range(len(rs)), key=lambda i: (rs[i]["score"], -cost(i)))
    say = v.sentences
    if target is not None and any(ok):
        best = min((i for i in range(len(rs)) if ok[i]), key=lambda i: (cost(i), -rs[i]["score"]))
        v.headline = f"Use {label(rs[best])}: the cheapest row that meets the target {target}."
        say.append(f"Use {label(rs[best])}: the cheapest row that meets the target {target} "
                   f"{_by(meets, rs[best], target)}. {_describe(rs[best], costs[best], v)}")
    else:
        best = _nothing_meets(rs, costs, pairs, v, top, cost, target, meets, hint)
    v.best = best
    _compare_neighbours(rs, best, top, cost, pairs, v)
    _pareto_sentence(rs, v)
    _payback(rs, costs, pairs, v)
    _finetune_vs_prompt(rs, costs, pairs, v)
    v.text = " ".join(s for s in say if s)
    return v


def _by(meets: str, row: dict[str, Any] | None, target: float) -> str:
    if meets == "mean":
        extra = ""
        if row is not None and row["ci_low"] < target:
            extra = f"; its interval reaches down to {row['ci_low']:.3f}, so by the lower bound it would not"
        return f"(judged by the mean score{extra})"
    return "(judged by the 95% interval's lower bound; --meets mean judges by the mean)"


def _describe(row: dict[str, Any], cost: dict[str, Any], v: Verdict) -> str:
    text = f"It scores {row['score']:.3f} {row.get('metric', '')} (95% CI {row['ci_low']:.3f}-{row['ci_high']:.3f}, n = {row['n']})"
    if cost["amortised_per_1k"] is None:
        return text + " at an unpriced cost (add the model's token prices with --prices)."
    text += f" for {money(cost['amortised_per_1k'])} per 1,000 requests"
    if v.volume_per_month:
        text += f", {money(cost['monthly'])} a month at {v.volume_per_month:,.0f} requests/month"
        if cost["one_time"]:
            text += f" (one-time {money(cost['one_time'])} amortised over {v.horizon_months} months)"
    return text + "."


def _diff_words(c: dict[str, Any]) -> str:
    return f"{c['b']} minus {c['a']}: {c['diff']:+.3f} [{c['ci_low']:+.3f}, {c['ci_high']:+.3f}], " + (
        "p < 0.001" if c["p_value"] < 0.001 else f"p = {c['p_value']:.3f}") + f", {'McNemar' if c['method'] == 'mcnemar' else 'paired bootstrap'}"


def _nothing_meets(rs: list[dict[str, Any]], costs: list[dict[str, Any]], pairs: "_Pairs", v: Verdict, top: int,
                   cost: Any, target: float | None, meets: str, hint: str) -> int:
    """No target, or no row meets it: name the best-scoring row (with no target, a cheaper row tied
    with it instead) and report the tie; returns the row the verdict points at."""
    say = v.sentences
    best, tied = top, None
    for j in sorted((j for j in range(len(rs)) if cost(j) < cost(top)), key=cost):
        t = pairs.test(j, top)
        if t is not None and not t.significant:
            tied = pairs.record(j, top, "cheaper row tied with the best-scoring one")
            # with no target, a tie goes to the cheaper row; below the target nothing is to be used
            # yet, so the best-scoring row stays the one to climb from and the tie is reported
            best = j if target is None else top
            break
    lead = "Nothing reaches the target " + f"{target} {_by(meets, None, target)}. " if target is not None else ""
    if target is not None:
        v.headline = f"Nothing reaches the target {target}: climb further. The best so far: {label(rs[top])}."
    else:
        v.headline = (f"Use {label(rs[best])}, statistically tied with the best-scoring row and cheaper."
                      if tied else f"Use {label(rs[best])}, the best-scoring row.")
    if tied:
        v.comparisons.append(tied)
    if tied and target is None:
        say.append(f"Use {label(rs[best])}: it is statistically tied with the best-scoring "
                   f"{label(rs[top])} ({_diff_words(tied)}) and cheaper, so the cheaper one. "
                   f"{_describe(rs[best], costs[best], v)}{tie_words(tied)}")
    else:
        say.append(f"{lead}The best-scoring row is {label(rs[top])}. {_describe(rs[top], costs[top], v)}")
        if tied:
            cheap = label(rs[tied["a_index"]])
            say.append(f"At this n it is not shown to beat the cheaper {cheap} ({_diff_words(tied)})."
                       f"{tie_words(tied)}")
    if target is None:
        say.append("No target was set; set `target` in the task (or --target) to get the cheapest row that is good enough.")
    elif hint:
        say.append(hint)
    return best


def _compare_neighbours(rs: list[dict[str, Any]], best: int, top: int, cost: Any, pairs: _Pairs, v: Verdict) -> None:
    """The chosen row against the best-scoring one and against the next cheaper one."""
    seen = {(c["a_index"], c["b_index"]) for c in v.comparisons}
    if top != best and (best, top) not in seen:
        c = pairs.record(best, top, "chosen row vs the best-scoring row")
        if c:
            v.comparisons.append(c)
            ratio = cost(top) / cost(best) if 0 < cost(best) < math.inf and cost(top) < math.inf else None
            at = f" at {ratio:.1f}x the cost" if ratio else ""
            if c["significant"]:
                v.sentences.append(f"{label(rs[top])} scores higher{at} ({_diff_words(c)}): a real difference, "
                                   "worth paying for only if you need more than the target.")
            else:
                v.sentences.append(f"{label(rs[top])} is not significantly better{at} ({_diff_words(c)}).{tie_words(c)}")
    others = [j for j in range(len(rs)) if j != best]
    if top == best and others:  # is the winner really ahead of the runner-up?
        j = max(others, key=lambda k: (rs[k]["score"], -cost(k)))
        c = pairs.record(j, best, "best-scoring row vs the runner-up")
        if c:
            v.comparisons.append(c)
            seen.add((j, best))
            verdict = "ahead" if c["significant"] and c["diff"] > 0 else "not significantly ahead"
            v.sentences.append(f"Against the runner-up {label(rs[j])} it is {verdict} ({_diff_words(c)})."
                               + tie_words(c))
    cheaper = [j for j in range(len(rs)) if cost(j) <= cost(best) and j != best]
    if cheaper:
        j = max(cheaper, key=lambda k: (cost(k), rs[k]["score"]))  # the next row down in cost
        if (j, best) not in seen:
            c = pairs.record(j, best, "chosen row vs the next cheaper row")
            if c:
                v.comparisons.append(c)
                what = f"The {'cheaper' if cost(j) < cost(best) else 'equally priced'} {label(rs[j])}"
                if c["significant"] and c["diff"] > 0:
                    v.sentences.append(f"{what} is worse ({_diff_words(c)}).")
                elif c["significant"]:
                    v.sentences.append(f"{what} scores higher ({_diff_words(c)}) but does not meet the target.")
                else:
                    why = " but does not meet the target" if v.meets[j] is False else ""
                    v.sentences.append(f"{what} is statistically tied with it ({_diff_words(c)}){why}.{tie_words(c)}")


def _pareto_sentence(rs: list[dict[str, Any]], v: Verdict) -> None:
    if len(v.pareto) < 2:
        return
    parts = [f"{label(rs[i])} ({rs[i]['score']:.3f}, {money(v.costs[i]['amortised_per_1k'])}/1k)" for i in v.pareto]
    v.sentences.append("Quality-vs-cost Pareto front, cheapest first: " + " → ".join(parts) + "; every other row "
                       "is beaten on both by one of these (point estimates).")


def _payback(rs: list[dict[str, Any]], costs: list[dict[str, Any]], pairs: _Pairs, v: Verdict) -> None:
    """For each row with a one-time cost: how many requests until it pays for itself against the
    cheapest prompted row that scores at least as well."""
    prompted = [j for j, r in enumerate(rs) if not costs[j]["one_time"] and costs[j]["per_1k"] is not None]
    for i, r in enumerate(rs):
        one = costs[i]["one_time"]
        if not one or costs[i]["per_1k"] is None:
            continue
        as_good = [j for j in prompted if rs[j]["score"] >= r["score"]]
        entry: dict[str, Any] = {"row": label(r), "index": i, "one_time": one, "versus": None,
                                 "requests": None, "months": None}
        if not as_good:
            entry["note"] = "no prompted row scores as well, so its one-time cost buys quality, not savings"
        else:
            j = min(as_good, key=lambda k: costs[k]["per_1k"])
            saving = (costs[j]["per_1k"] - costs[i]["per_1k"]) / 1000
            entry["versus"] = label(rs[j])
            if saving <= 0:
                entry["note"] = f"never pays back: per request it costs as much as {label(rs[j])} or more, which scores as well"
            else:
                entry["requests"] = math.ceil(one / saving)
                if v.volume_per_month:
                    entry["months"] = entry["requests"] / v.volume_per_month
                entry["note"] = (f"pays back its {money(one)} after {entry['requests']:,} requests against {label(rs[j])}"
                                 + (f" ({entry['months']:.1f} months at your volume)" if entry["months"] is not None else ""))
        v.payback.append(entry)
        v.sentences.append(f"{label(r)}: {entry['note']}.")


def _finetune_vs_prompt(rs: list[dict[str, Any]], costs: list[dict[str, Any]], pairs: _Pairs, v: Verdict) -> None:
    from ladder.models import model_size

    tuned = [i for i, r in enumerate(rs) if r["rung"] == "finetune"]
    best_pair = None
    for f in sorted(tuned, key=lambda i: -rs[i]["score"]):
        larger = [j for j, r in enumerate(rs) if r["rung"] in PROMPTED and model_size(r["model"]) > model_size(rs[f]["model"])]
        if larger:
            best_pair = (f, max(larger, key=lambda j: rs[j]["score"]))
            break
    if best_pair is None:
        return
    f, p = best_pair
    c = pairs.record(p, f, "fine-tuned small model vs prompted larger model")
    if c is None:
        return
    v.comparisons.append(c)
    cf, cp = costs[f]["amortised_per_1k"], costs[p]["amortised_per_1k"]
    if c["significant"]:
        choice = "fine-tune the small one" if c["diff"] > 0 else "prompt the large one"
    else:
        cheaper_ft = cf is not None and (cp is None or cf <= cp)
        choice = ("tied, so fine-tune the small one (cheaper at your volume)" if cheaper_ft
                  else "tied, so prompt the large one (cheaper at your volume)")
    sentence = (f"Fine-tune the small one or prompt the large one? The fine-tuned {rs[f]['model']} minus "
                f"{rs[p]['rung']} {rs[p]['model']} is {c['diff']:+.3f} [{c['ci_low']:+.3f}, {c['ci_high']:+.3f}] "
                f"(paired, n = {c['n']}), at {money(cf)} vs {money(cp)} per 1,000 requests: {choice}.")
    v.finetune_vs_prompt = {"finetuned": label(rs[f]), "prompted": label(rs[p]), "choice": choice,
                            "sentence": sentence, **{k: c[k] for k in ("diff", "ci_low", "ci_high", "p_value", "n", "method")}}
    v.sentences.append(sentence)

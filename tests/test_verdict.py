"""ladder.verdict on hand-built rows: ties go to the cheaper row, targets by lower bound or mean,
payback worked by hand, fine-tune vs prompt, and how many more examples a tie needs."""
from __future__ import annotations

import doctest

import numpy as np
import pytest

from ladder import verdict
from ladder.errors import LadderError
from ladder.stats import bootstrap_ci
from ladder.verdict import decide, parse_volume, row_cost


def preds(correct: list[int]) -> list[dict]:
    return [{"idx": i, "score": float(c), "output": "x" if c else "y", "expected": "x"} for i, c in enumerate(correct)]


def row(rung: str, model: str, p: list[dict], per_1k: float | None, one_time: float = 0.0) -> dict:
    s = [r["score"] for r in p]
    lo, hi = bootstrap_ci(s)
    return {"rung": rung, "model": model, "metric": "accuracy", "score": float(np.mean(s)), "ci_low": lo, "ci_high": hi,
            "n": len(s), "cost_per_1k": per_1k, "one_time_cost": one_time, "latency_p50": 0.1, "latency_p95": 0.2}


def fixed(n: int, right: int, shift: int = 0) -> list[int]:
    """n examples, `right` of them correct, starting at `shift` (wrapping): controls the overlap."""
    out = [0] * n
    for k in range(right):
        out[(k + shift) % n] = 1
    return out


def test_doctests():
    assert doctest.testmod(verdict).failed == 0


def test_a_cheaper_row_tied_with_the_best_is_picked_and_said():
    cheap, dear = preds(fixed(100, 70)), preds(fixed(100, 72))  # dear is right on 2 more: a tie
    rows = [row("zero-shot", "smollm2-135m", cheap, 0.01), row("zero-shot", "qwen2.5-coder-0.5b", dear, 0.05)]
    v = decide(rows, [cheap, dear])
    assert v.best == 0
    assert "statistically tied" in v.text and "cheaper" in v.text
    tie = v.comparisons[0]
    assert tie["method"] == "mcnemar" and (tie["b_wins"], tie["a_wins"]) == (2, 0) and tie["p_value"] == 0.5
    assert tie["more_examples_needed"] > 0 and "more test examples" in v.text


def test_a_clearly_better_row_wins_without_a_target():
    cheap, dear = preds(fixed(100, 50)), preds(fixed(100, 90))
    rows = [row("zero-shot", "smollm2-135m", cheap, 0.01), row("zero-shot", "qwen2.5-coder-0.5b", dear, 0.05)]
    v = decide(rows, [cheap, dear])
    assert v.best == 1
    assert "Against the runner-up zero-shot / smollm2-135m it is ahead" in v.text and "p < 0.001" in v.text
    assert len(v.comparisons) == 1  # the runner-up is also the next cheaper row: tested once
    assert v.pareto == [0, 1]


def test_target_by_lower_bound_or_by_mean():
    p = preds(fixed(50, 41))  # 0.82, interval roughly 0.70-0.92
    rows = [row("zero-shot", "smollm2-135m", p, 0.01)]
    by_lower = decide(rows, [p], target=0.8)
    by_mean = decide(rows, [p], target=0.8, meets="mean")
    assert by_lower.meets == [False] and "Nothing reaches the target" in by_lower.text
    assert by_mean.meets == [True] and by_mean.text.startswith("Use zero-shot / smollm2-135m")
    assert "judged by the mean" in by_mean.text and "lower bound it would not" in by_mean.text
    with pytest.raises(LadderError, match="--meets"):
        decide(rows, [p], meets="median")


def test_cheapest_row_meeting_the_target_is_used_and_compared_with_the_top():
    a, b = preds(fixed(200, 180)), preds(fixed(200, 196))
    rows = [row("zero-shot", "smollm2-135m", a, 0.01), row("few-shot", "qwen2.5-coder-0.5b", b, 0.10)]
    v = decide(rows, [a, b], target=0.8, volume_per_month=100_000)
    assert v.best == 0 and v.meets == [True, True]
    assert "scores higher at 10.0x the cost" in v.text and "a real difference" in v.text
    assert "$1.00 a month at 100,000 requests/month" in v.text


def test_amortised_cost_and_payback_by_hand():
    # 10,000 requests/month over 12 months = 120,000 requests; a $12 one-time cost adds $0.10 per 1k
    assert row_cost({"cost_per_1k": 0.05, "one_time_cost": 12.0}, 10_000, 12) == pytest.approx(
        {"per_1k": 0.05, "one_time": 12.0, "amortised_per_1k": 0.15, "monthly": 0.5 + 1.0})
    big, tuned = preds(fixed(100, 80)), preds(fixed(100, 82))
    rows = [row("few-shot", "qwen2.5-coder-0.5b", big, 0.50), row("finetune", "smollm2-135m", tuned, 0.10, 20.0)]
    v = decide(rows, [big, tuned], volume_per_month=10_000)
    # no prompted row scores as well as the tuned one: the cost buys quality
    assert "buys quality" in v.payback[0]["note"]
    worse_tuned = preds(fixed(100, 78))
    rows[1] = row("finetune", "smollm2-135m", worse_tuned, 0.10, 20.0)
    v = decide(rows, [big, worse_tuned], volume_per_month=10_000)
    # saves (0.50 - 0.10) / 1000 = $0.0004 per request: $20 back after 50,000 requests = 5 months
    assert v.payback[0]["requests"] == 50_000 and v.payback[0]["months"] == pytest.approx(5.0)
    assert "Fine-tune the small one or prompt the large one?" in v.text
    assert v.finetune_vs_prompt["diff"] == pytest.approx(-0.02)
    assert v.finetune_vs_prompt["choice"].startswith("tied, so fine-tune")  # cheaper per 1k at this volume


def test_finetune_vs_prompt_when_the_difference_is_real():
    big, tuned = preds(fixed(200, 100)), preds(fixed(200, 170))
    rows = [row("zero-shot", "qwen2.5-coder-0.5b", big, 0.05), row("finetune", "smollm2-135m", tuned, 0.01, 1.0)]
    v = decide(rows, [big, tuned], volume_per_month=1000)
    assert v.finetune_vs_prompt["choice"] == "fine-tune the small one"
    assert v.finetune_vs_prompt["ci_low"] > 0


def test_corpus_metric_is_compared_by_bootstrap_over_indices():
    exp = ["pos", "neg"] * 50
    a = [{"score": None, "output": "pos", "expected": e} for e in exp]  # always 'pos'
    b = [{"score": None, "output": e, "expected": e} for e in exp]  # perfect
    rows = [dict(row("zero-shot", "smollm2-135m", preds([1]), 0.01), score=1 / 3, metric="macro_f1"),
            dict(row("zero-shot", "qwen2.5-coder-0.5b", preds([1]), 0.05), score=1.0, metric="macro_f1")]
    v = decide(rows, [a, b])
    c = v.comparisons[0]
    assert c["method"] == "bootstrap" and c["diff"] == pytest.approx(1 - 1 / 3) and c["significant"]


def test_unpriced_rows_and_empty_input():
    p = preds(fixed(10, 5))
    v = decide([row("zero-shot", "openai/x", p, None)], [p])
    assert "unpriced" in v.text and v.pareto == []
    assert decide([], []).text == "Nothing was evaluated."


def test_parse_volume():
    assert parse_volume("100000/month") == 100_000
    assert parse_volume("3000/day") == 90_000
    assert parse_volume("1.5M") == 1_500_000
    for bad in ("lots", "0/day", "5/week"):
        with pytest.raises(LadderError, match="--volume"):
            parse_volume(bad)


def test_graded_scores_are_compared_by_paired_bootstrap():
    rng = np.random.default_rng(3)
    base = rng.uniform(0.2, 0.8, 150)
    a = [{"score": float(x), "output": "", "expected": ""} for x in base]
    b = [{"score": float(min(1.0, x + 0.05)), "output": "", "expected": ""} for x in base]  # +0.05 on each
    rows = [dict(row("zero-shot", "smollm2-135m", preds([1]), 0.01), score=float(np.mean(base)), metric="token_f1"),
            dict(row("zero-shot", "qwen2.5-coder-0.5b", preds([1]), 0.05), score=float(np.mean([r["score"] for r in b])),
                 metric="token_f1")]
    v = decide(rows, [a, b])
    c = v.comparisons[0]
    assert c["method"] == "bootstrap" and c["diff"] == pytest.approx(0.05) and c["significant"]
    assert v.best == 1  # consistently better, though only a little: not a tie


def test_below_the_target_a_tie_is_reported_but_nothing_is_recommended_for_use():
    """Tied rows that both miss the target: the verdict says to climb, names the best so far, and
    says how many more examples would separate them (it used to say "Use" the cheaper failing row)."""
    cheap, dear = preds(fixed(60, 9)), preds(fixed(60, 18, shift=5))  # 0.15 vs 0.30: 14 vs 5 disagreements, as on the demo
    v = decide([row("zero-shot", "small", cheap, 0.007), row("few-shot", "large", dear, 0.023)], [cheap, dear],
               target=0.7)
    assert v.best == 1 and not any(v.meets)
    assert v.headline.startswith("Nothing reaches the target 0.7: climb further. The best so far: few-shot / large")
    assert "Use " not in v.text and "not shown to beat the cheaper zero-shot / small" in v.text
    assert v.comparisons[0]["why"] == "cheaper row tied with the best-scoring one" and v.comparisons[0]["more_examples_needed"]

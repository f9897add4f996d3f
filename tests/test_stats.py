"""ladder.stats against hand-computed values, and against scipy where it is installed."""
from __future__ import annotations

import doctest
import math

import numpy as np
import pytest

from ladder import stats
from ladder.stats import (
    bootstrap_ci,
    diff_sd,
    examples_needed,
    mcnemar,
    mcnemar_p,
    min_detectable_effect,
    paired_bootstrap,
    paired_bootstrap_stat,
    paired_test,
    pareto_front,
)


def test_doctests():
    assert doctest.testmod(stats).failed == 0


def test_mcnemar_p_by_hand():
    # 7 vs 1 discordant: 2 * (C(8,0) + C(8,1)) / 2^8 = 2 * 9 / 256
    assert mcnemar_p(7, 1) == pytest.approx(18 / 256)
    assert mcnemar_p(1, 7) == pytest.approx(18 / 256)  # symmetric
    assert mcnemar_p(8, 0) == pytest.approx(2 / 256)
    assert mcnemar_p(4, 4) == 1.0  # capped at 1


def test_mcnemar_against_scipy_binomtest():
    scipy_stats = pytest.importorskip("scipy.stats")
    for b, c in [(10, 2), (3, 9), (25, 15), (0, 6), (40, 41)]:
        ref = scipy_stats.binomtest(b, b + c, 0.5).pvalue
        assert mcnemar_p(b, c) == pytest.approx(ref, rel=1e-9)


def test_mcnemar_interval_is_clopper_pearson_on_the_discordant_pairs():
    scipy_stats = pytest.importorskip("scipy.stats")
    for k, j in [(4, 0), (10, 2), (7, 9), (30, 12)]:
        ref = scipy_stats.binomtest(k, k + j).proportion_ci(confidence_level=0.95, method="exact")
        a = [0] * k + [1] * j + [1] * 50
        b = [1] * k + [0] * j + [1] * 50
        t = mcnemar(a, b)
        m, n = k + j, len(a)
        assert t.ci_low == pytest.approx(m / n * (2 * ref.low - 1), abs=1e-9)
        assert t.ci_high == pytest.approx(m / n * (2 * ref.high - 1), abs=1e-9)
        assert (t.ci_low > 0 or t.ci_high < 0) == t.significant  # interval and test agree


def test_mcnemar_counts_only_discordant_pairs():
    a = [1, 1, 0, 0, 1, 0]
    b = [1, 0, 1, 1, 1, 0]  # b gains 2 (idx 2, 3), loses 1 (idx 1)
    t = mcnemar(a, b)
    assert (t.b_wins, t.a_wins, t.n) == (2, 1, 6)
    assert t.diff == pytest.approx(1 / 6)
    assert t.p_value == pytest.approx(1.0)
    with pytest.raises(ValueError):
        mcnemar([0.5], [1])


def test_paired_test_picks_the_method():
    assert paired_test([0, 1, 1], [1, 1, 0]).method == "mcnemar"
    assert paired_test([0.2, 0.5, 0.9], [0.3, 0.4, 1.0]).method == "bootstrap"


def test_paired_bootstrap_interval_matches_the_normal_approximation():
    rng = np.random.default_rng(1)
    a = rng.normal(0.5, 0.2, 400)
    b = a + rng.normal(0.03, 0.1, 400)  # a small, real, paired improvement
    t = paired_bootstrap(a, b)
    d = b - a
    se = d.std(ddof=1) / math.sqrt(len(d))
    assert t.diff == pytest.approx(d.mean())
    assert t.ci_low == pytest.approx(d.mean() - 1.96 * se, abs=0.3 * se)
    assert t.ci_high == pytest.approx(d.mean() + 1.96 * se, abs=0.3 * se)
    assert t.significant and t.ci_low > 0
    # the unpaired view of the same numbers cannot tell them apart: intervals overlap
    assert bootstrap_ci(b)[0] < bootstrap_ci(a)[1]


def test_paired_bootstrap_p_agrees_with_scipy_ttest_rel():
    scipy_stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(2)
    a = rng.uniform(0, 1, 300)
    b = a + rng.normal(0.01, 0.15, 300)
    t = paired_bootstrap(a, b, samples=4000)
    ref = scipy_stats.ttest_rel(b, a).pvalue
    assert t.p_value == pytest.approx(ref, abs=0.05)


def test_paired_bootstrap_rejects_unpaired_lengths():
    with pytest.raises(ValueError, match="same examples"):
        paired_bootstrap([1, 0], [1, 0, 1])


def test_paired_bootstrap_with_a_corpus_statistic():
    # a statistic over example indices: macro-F1 over two labels, worked by hand on the full set
    ref = np.array([0, 0, 1, 1] * 25)
    pa = np.array([0, 0, 0, 0] * 25)  # always 0: F1(0) = 2*50/(2*50+50) = 2/3, F1(1) = 0 -> 1/3
    pb = ref.copy()  # perfect: 1.0

    def macro_f1(pred: np.ndarray):
        def stat(idx: np.ndarray) -> float:
            r, p = ref[idx], pred[idx]
            f = []
            for lab in (0, 1):
                tp, fp, fn = ((p == lab) & (r == lab)).sum(), ((p == lab) & (r != lab)).sum(), ((p != lab) & (r == lab)).sum()
                f.append(2 * tp / (2 * tp + fp + fn) if tp else 0.0)
            return float(np.mean(f))
        return stat
    t = paired_bootstrap_stat(macro_f1(pa), macro_f1(pb), len(ref))
    assert t.diff == pytest.approx(1 - 1 / 3)
    assert t.ci_low > 0.5 and t.significant


def test_power_by_hand():
    z = 1.959964 + 0.841621
    assert examples_needed(0.1, 0.5) == math.ceil((z * 0.5 / 0.1) ** 2)  # 196.2 -> 197
    assert examples_needed(0.0, 0.5) is None
    assert examples_needed(0.1, 0.0) is None
    assert min_detectable_effect(0.5, 196) == pytest.approx(z * 0.5 / 14, rel=1e-5)
    # the two are inverses of each other
    n = examples_needed(0.07, 0.4)
    assert min_detectable_effect(0.4, n) <= 0.07 < min_detectable_effect(0.4, n - 1)


def test_power_against_scipy_norm():
    scipy_stats = pytest.importorskip("scipy.stats")
    z = scipy_stats.norm.ppf(0.975) + scipy_stats.norm.ppf(0.8)
    assert min_detectable_effect(0.3, 50) == pytest.approx(z * 0.3 / math.sqrt(50), rel=1e-9)


def test_diff_sd():
    assert diff_sd([1, 1, 1], [1, 1, 1]) == 0.0
    assert diff_sd([0, 0], [1, 0]) == pytest.approx(math.sqrt(0.5))


def test_pareto_front():
    pts = [(0.1, 0.60), (0.2, 0.60), (0.3, 0.80), (1.0, 0.75), (2.0, 0.90), (None, 0.99)]
    assert pareto_front(pts) == [0, 2, 4]
    assert pareto_front([]) == []
    # equal cost: only the better one
    assert pareto_front([(1.0, 0.5), (1.0, 0.7)]) == [1]


def test_bootstrap_ci_level_and_custom_stat():
    vals = list(range(100))
    lo95, hi95 = bootstrap_ci(vals)
    lo80, hi80 = bootstrap_ci(vals, level=0.8)
    assert lo95 < lo80 < 49.5 < hi80 < hi95
    lo, hi = bootstrap_ci(np.arange(10), stat=lambda x: float(np.max(x)))
    assert lo <= hi == 9.0

import doctest

import pytest

import ladder.metrics as metrics
from ladder.evaluation import bootstrap_ci
from ladder.metrics import chrf, macro_f1, rouge_l, token_f1


def test_worked_examples_in_docstrings():
    assert doctest.testmod(metrics).failed == 0


def test_token_f1_matches_squad_definition():
    # prediction "the cat sat", gold "a cat sat down": normalised p=[cat, sat], g=[cat, sat, down]
    assert token_f1("the cat sat", "a cat sat down") == pytest.approx(2 * 1 * (2 / 3) / (1 + 2 / 3))


def test_macro_f1_against_sklearn_like_hand_count():
    preds = ["a", "b", "c", "a", "b", "b"]
    refs = ["a", "b", "c", "c", "b", "a"]
    # a: tp1 fp1 fn1 -> .5 ; b: tp2 fp1 fn0 -> .8 ; c: tp1 fp0 fn1 -> 2/3
    assert macro_f1(preds, refs) == pytest.approx((0.5 + 0.8 + 2 / 3) / 3)


def test_chrf_and_rouge_bounds():
    assert chrf("completely different", "zzz") == 0.0
    assert rouge_l("a b c", "a b c") == 1.0
    assert 0 < chrf("the cat", "the hat") < 1


def test_bootstrap_interval_contains_mean_and_narrows_with_n():
    small = [1, 0] * 10
    big = [1, 0] * 500
    lo_s, hi_s = bootstrap_ci(small)
    lo_b, hi_b = bootstrap_ci(big)
    assert lo_s < 0.5 < hi_s and lo_b < 0.5 < hi_b
    assert (hi_b - lo_b) < (hi_s - lo_s) / 3


def test_sari_hand_counted_and_rewards_simplifying_over_copying():
    from ladder.metrics import sari

    src = "the cat sat on the mat today"
    # every n-gram order: keep F1 = 1, delete precision = 1 (only grams with "today" go), nothing added = 0
    assert sari("the cat sat on the mat", ["the cat sat on the mat"], source=src) == pytest.approx(2 / 3)
    refs = ["the cat sat on the mat", "a cat sat on the mat"]
    assert sari("the cat sat on the mat", refs, source=src) > sari(src, refs, source=src)  # deleting well beats copying
    assert sari("dogs bark loudly", refs, source=src) < sari(src, refs, source=src)  # rewriting badly loses keeps


def test_sari_on_the_standard_multi_reference_example():
    """The example in the SARI paper's code and in HF `evaluate` (which reports 26.95: it scores an
    empty keep/delete set as 1 where the original scores 0; we follow the original, as EASSE does)."""
    from ladder.metrics import sari

    refs = ["About 95 species are currently known.", "About 95 species are now accepted.", "95 species are now accepted."]
    got = sari("About 95 you now get in.", refs, source="About 95 species are currently accepted.")
    assert got == pytest.approx(0.26828, abs=1e-4)


def test_evaluator_gives_sari_the_rendered_source():
    from ladder.evaluation import evaluate
    from ladder.models.base import Completion, Usage

    def drop_today(ex):
        return Completion(text=ex["source"].replace(" today", ""), usage=Usage())

    examples = [{"source": "the cat sat on the mat today", "references": ["the cat sat on the mat"]}]
    res = evaluate(drop_today, examples, "sari", expected=lambda ex: ex["references"], render=lambda ex: ex["source"])
    assert res.score == pytest.approx(2 / 3)


def test_a_corpus_metric_plugin_is_bootstrapped_as_itself():
    """Corpus-level scores used to be bootstrapped as macro-F1 whatever the metric was."""
    from ladder.evaluation import evaluate
    from ladder.metrics import METRICS, corpus_stat, macro_f1
    from ladder.models.base import Completion

    def share_of_yes(predictions, references):  # a corpus-level metric of no use but its own value
        return sum(p == "yes" for p in predictions) / len(predictions)

    share_of_yes.corpus = True
    METRICS.register("share_of_yes", share_of_yes)
    try:
        examples = [{"x": i, "y": "yes" if i % 2 else "no"} for i in range(10)]
        answers = iter(["yes"] * 3 + ["no"] * 7)
        res = evaluate(lambda ex: Completion(next(answers)), examples, "share_of_yes", expected=lambda ex: ex["y"])
        assert res.score == 0.3 and res.ci_low <= 0.3 <= res.ci_high and res.ci_high < 0.8
        preds, refs = ["a", "b", "a"], ["a", "a", "b"]
        assert corpus_stat("macro_f1", preds, refs)(list(range(3))) == macro_f1(preds, refs)
    finally:
        METRICS.unregister("share_of_yes")

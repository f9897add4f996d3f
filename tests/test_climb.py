"""The ladder core with test doubles: rungs, evaluation, store, resume, cache, climb."""
import pytest

from ladder import advisor as climb_mod
from ladder.advisor import climb, plan, run_rung
from ladder.rungs import few_shot
from ladder.store import Store
from ladder.task import load_task
from ladder.testing import DummyModel


def keyword_model(name="dummy", params=1):
    """Answers 'positive' when the last user turn has a positive word: a model that actually reads input."""
    good = ("lov", "wonderful", "great", "brilliant", "joy", "best")
    return DummyModel(name=name, params=params,
                      respond=lambda msgs: "positive" if any(w in msgs[-1]["content"].lower() for w in good) else "negative")


@pytest.fixture
def models(monkeypatch):
    made = {}

    def fake_load(spec, **kw):
        if spec not in made:
            made[spec] = keyword_model(spec, params=len(spec)) if spec != "bad" else DummyModel(name="bad", default="negative")
        return made[spec]

    monkeypatch.setattr(climb_mod, "load_model", fake_load)
    monkeypatch.setattr(climb_mod, "model_size", lambda spec: len(spec))
    return made


def test_zero_shot_scores_and_records(sentiment_task, tmp_path, models):
    task = load_task(sentiment_task)
    store = Store(tmp_path / "runs.db")
    row, res = run_rung(task, "zero-shot", "good", store=store)
    assert row.score == 1.0 and row.n == 4 and row.meets_target
    assert res.rows[0]["output"] in ("positive", "negative")
    assert models["good"].calls[0]["choices"] == ["negative", "positive"]
    assert row.ci_low <= row.score <= row.ci_high


def test_bad_model_scores_half_with_wide_interval(sentiment_task, tmp_path, models):
    row, _ = run_rung(load_task(sentiment_task), "zero-shot", "bad", store=Store(tmp_path / "r.db"))
    assert row.score == 0.5 and row.ci_low < 0.5 < row.ci_high and not row.meets_target


def test_few_shot_demos_come_from_train_and_share_a_prefix(sentiment_task, tmp_path, models):
    task = load_task(sentiment_task)
    run_rung(task, "few-shot", "good", store=Store(tmp_path / "r.db"), options={"k": 4, "selector": "balanced"})
    calls = models["good"].calls
    demos = [m["content"] for m in calls[0]["messages"][1:-1] if m["role"] == "user"]
    train_texts = {ex["text"] for ex in task.train}
    assert len(demos) == 4 and set(demos) <= train_texts
    labels = [m["content"] for m in calls[0]["messages"][1:-1] if m["role"] == "assistant"]
    assert sorted(labels) == ["negative", "negative", "positive", "positive"]  # balanced
    assert all(c["messages"][:-1] == calls[0]["messages"][:-1] for c in calls)  # same prefix every call


def test_few_shot_refuses_demos_that_are_test_examples(sentiment_task, models):
    task = load_task(sentiment_task)
    task.train.append(dict(task.test[0]))
    with pytest.raises(Exception, match="test example"):
        few_shot.compile(task, models.get("x") or keyword_model(), {"k": len(task.train), "selector": "fixed"})


def test_interrupted_run_resumes_without_redoing_work(sentiment_task, tmp_path, models, monkeypatch):
    task = load_task(sentiment_task)
    store = Store(tmp_path / "r.db")
    inner = keyword_model("flaky")
    calls = {"n": 0}
    real = inner.complete

    def dies_after_two(*a, **kw):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real(*a, **kw)

    inner.complete = dies_after_two
    models["flaky"] = inner
    with pytest.raises(KeyboardInterrupt):
        run_rung(task, "zero-shot", "flaky", store=store)
    inner.complete = real
    before = len(inner.calls)
    row, res = run_rung(task, "zero-shot", "flaky", store=store)
    assert len(inner.calls) - before == 2  # only the two unfinished examples
    assert row.n == 4 and row.score == 1.0


def test_identical_second_climb_calls_no_model(sentiment_task, tmp_path, models):
    task = load_task(sentiment_task)
    store = Store(tmp_path / "r.db")
    first = climb(task, ["good"], ["zero-shot", "few-shot"], store=store, all_rows=True)
    n_calls = len(models["good"].calls)
    second = climb(task, ["good"], ["zero-shot", "few-shot"], store=store, all_rows=True)
    assert len(models["good"].calls) == n_calls
    assert [r.score for r in first.rows] == [r.score for r in second.rows]


def test_climb_stops_at_first_good_enough_and_recommends_it(sentiment_task, tmp_path, models):
    task = load_task(sentiment_task)
    res = climb(task, ["goodmodel", "bad"], ["zero-shot", "few-shot"], store=Store(tmp_path / "r.db"))
    assert [(r.rung, r.model) for r in res.rows] == [("zero-shot", "bad"), ("zero-shot", "goodmodel")]
    assert res.best.model == "goodmodel" and "Use zero-shot / goodmodel" in res.recommendation
    assert "judged by the 95% interval's lower bound" in res.recommendation
    # the paired test against the cheaper row it beat (bad scores 0.5 on the same four examples)
    assert res.verdict["comparisons"][0]["a"] == "zero-shot / bad" and res.verdict["comparisons"][0]["diff"] == 0.5
    everything = climb(task, ["goodmodel", "bad"], ["zero-shot", "few-shot"], store=Store(tmp_path / "r.db"),
                       all_rows=True)
    assert len(everything.rows) == 4


def test_climb_without_success_says_what_to_try(sentiment_task, tmp_path, models):
    res = climb(load_task(sentiment_task), ["bad"], ["zero-shot"], store=Store(tmp_path / "r.db"))
    assert "Nothing reaches the target" in res.recommendation and "try few-shot" in res.recommendation


def test_plan_orders_rungs_by_cost_then_models_by_size(monkeypatch):
    monkeypatch.setattr(climb_mod, "model_size", lambda spec: {"big": 2, "small": 1}[spec])
    assert plan(["big", "small"], ["few-shot", "zero-shot"]) == [
        ("zero-shot", "small"), ("zero-shot", "big"), ("few-shot", "small"), ("few-shot", "big")]


def test_free_text_backend_is_mapped_onto_labels(sentiment_task, tmp_path, monkeypatch):
    m = DummyModel(name="api", scores_choices=False, local=False, default="The sentiment is Positive.")
    monkeypatch.setattr(climb_mod, "load_model", lambda spec, **kw: m)
    row, res = run_rung(load_task(sentiment_task), "zero-shot", "openai/x", store=Store(tmp_path / "r.db"),
                        concurrency=3)
    assert {r["output"] for r in res.rows} == {"positive"} and row.score == 0.5
    assert row.cost_per_1k is None  # no token price for this API model in the table


class BiasedScorer(DummyModel):
    """Always prefers 'negative' a little; positive words only narrow the gap (a prior, as small models have)."""

    def complete(self, messages, *, choices=None, **kw):
        out = super().complete(messages, choices=choices, **kw)
        text = messages[-1]["content"].lower()
        pos = -0.2 if any(w in text for w in ("lov", "wonderful", "joy", "best")) else -1.0
        out.choice_logprobs = {"negative": 0.0, "positive": pos}
        out.text = "negative"
        return out


def test_calibration_removes_a_label_prior(sentiment_task, tmp_path, monkeypatch):
    task = load_task(sentiment_task)
    model = BiasedScorer(name="biased")
    monkeypatch.setattr(climb_mod, "load_model", lambda spec, **kw: model)
    raw, _ = run_rung(task, "zero-shot", "biased", store=Store(tmp_path / "r.db"))
    cal, res = run_rung(task, "zero-shot", "biased", store=Store(tmp_path / "r.db"), options={"calibrate": True})
    assert raw.score == 0.5 and cal.score == 1.0
    assert cal.one_time_cost > 0 and raw.one_time_cost == 0  # the content-free calls are counted
    assert any(c["messages"][-1]["content"] == "N/A" for c in model.calls)


def test_report_prices_pretraining_the_largest_bundled_model_climbed():
    from ladder.advisor import pretrain_at_scale, scale_note
    from ladder.train.plan import plan as plan_cost

    scale = pretrain_at_scale(["smollm2-135m", "qwen2.5-coder-0.5b", "openai/big"])
    assert scale["like"] == "qwen2.5-coder-0.5b" and scale["params"] == 494_000_000
    assert scale["compute_optimal"]["tokens"] == 20 * 494_000_000  # Chinchilla
    made = plan_cost(494_000_000, 23_500_000_000_000)
    assert scale["as_its_makers"]["dollars"] == pytest.approx(made.dollars, abs=0.01)
    assert scale["as_its_makers"]["dollars"] > 100 * scale["compute_optimal"]["dollars"]
    note = scale_note(scale)
    assert "qwen2.5-coder-0.5b-sized" in note and "23.5T tokens as its makers" in note
    assert pretrain_at_scale(["openai/big"]) is None and scale_note(None) == ""


def test_climb_skips_rungs_that_cannot_apply_and_says_why(sentiment_task, tmp_path, models):
    task = load_task(sentiment_task)  # no corpus; "openai/big" has no local weights to train
    task.target = 1.01  # unreachable: the climb goes through everything it can
    res = climb(task, ["openai/big"], ["zero-shot", "rag", "finetune"], store=Store(tmp_path / "r.db"))
    assert [(r.rung, r.model) for r in res.rows] == [("zero-shot", "openai/big")]
    why = {s["rung"]: s["why"] for s in res.skipped}
    assert sorted(why) == ["finetune", "rag"] and why["rag"] == "the task names no corpus"
    assert "local weights" in why["finetune"] and "ladder distill" in why["finetune"]
    assert "rag" not in res.recommendation and "finetune" not in res.recommendation
    assert "try few-shot, add" in res.recommendation  # the one rung that could still help


@pytest.mark.integration
def test_a_training_rung_that_refuses_does_not_lose_the_measured_rows(sentiment_task, tmp_path, models):
    task = load_task(sentiment_task)  # 8 train examples, fewer than fine-tuning accepts by default
    task.target = 1.01
    res = climb(task, ["smollm2-135m"], ["zero-shot", "finetune"], store=Store(tmp_path / "r.db"),
                options={"finetune": {"min_examples": 50}})
    assert [r.rung for r in res.rows] == ["zero-shot"]
    assert res.skipped[0]["rung"] == "finetune" and "at least 50" in res.skipped[0]["why"]

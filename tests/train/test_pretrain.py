"""The pretraining loop on a tiny model: it learns, it resumes exactly, it refuses bad runs."""
import json
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("tokenizers")

from ladder.errors import LadderError
from ladder.train import memory
from ladder.train.pretrain import PretrainConfig, pretrain


def write_corpus(path: Path, rows) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, wiki_rows) -> Path:
    return write_corpus(tmp_path_factory.mktemp("corpus") / "wiki.jsonl", wiki_rows(150))


def tiny(out, **kw) -> PretrainConfig:
    base = dict(out=out, params="250k", vocab_size=512, seq_len=32, batch_size=4, steps=12,
                checkpoint_every=4, eval_tokens=1024, export=False, lr=3e-3)
    return PretrainConfig(**{**base, **kw})


@pytest.fixture(scope="module")
def finished(corpus, tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "pt"
    return out, pretrain(corpus, tiny(out))


def test_scratch_run_learns_and_records_its_cost(finished):
    out, r = finished
    assert r.kind == "scratch" and r.steps == 12 and r.resumed_from == 0
    # an untrained model is about as perplexed as a uniform guess over the vocabulary
    assert 0.5 * 512 < r.perplexity_before < 2 * 512
    assert r.perplexity_after < 0.5 * r.perplexity_before
    # the same held-out windows before and after (paired), each perplexity inside its own interval
    assert len(r.heldout_nll_before) == len(r.heldout_nll_after) >= 2
    assert r.perplexity_after_ci[0] <= r.perplexity_after <= r.perplexity_after_ci[1]
    assert r.perplexity_after_ci[1] < r.perplexity_before_ci[0]
    assert r.tokens_seen == 12 * 4 * 32
    assert r.flops == 6 * r.params * r.tokens_seen
    assert r.wall_seconds > 0 and r.cpu_seconds > 0 and r.dollars > 0
    assert [p["step"] for p in r.losses] == list(range(1, 13))
    assert r.losses[-1]["loss"] < r.losses[0]["loss"]
    saved = json.loads((out / "result.json").read_text())
    assert saved["perplexity_after"] == pytest.approx(r.perplexity_after)
    assert not (out / "checkpoint").exists()  # removed once the run is complete
    assert (out / "model" / "tokenizer.json").exists() and (out / "model" / "model.safetensors").exists()


def test_heldout_documents_are_not_trained_on(corpus, finished):
    _, r = finished
    assert r.heldout_docs >= 1 and r.heldout_tokens > 0
    assert r.train_tokens + r.heldout_tokens > r.train_tokens


def test_interrupted_run_resumes_from_its_last_checkpoint_exactly(corpus, finished, tmp_path):
    ref_out, ref = finished
    out = tmp_path / "pt"

    def stop_at_10(info):
        if info["step"] == 10:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        pretrain(corpus, tiny(out), on_step=stop_at_10)
    assert json.loads((out / "checkpoint" / "state.json").read_text())["step"] == 8
    assert not (out / "result.json").exists()

    r = pretrain(corpus, tiny(out))
    assert r.resumed_from == 8
    assert [p["loss"] for p in r.losses] == [p["loss"] for p in ref.losses]  # same batches, same updates
    from safetensors.torch import load_file

    a, b = load_file(str(ref_out / "model" / "model.safetensors")), load_file(str(out / "model" / "model.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert r.perplexity_after == pytest.approx(ref.perplexity_after)


def test_a_checkpoint_of_different_settings_is_refused(corpus, tmp_path):
    def stop(info):
        if info["step"] == 5:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        pretrain(corpus, tiny(tmp_path / "pt"), on_step=stop)
    with pytest.raises(LadderError, match="different run"):
        pretrain(corpus, tiny(tmp_path / "pt", lr=1e-3))


def test_a_finished_run_is_not_overwritten(corpus, finished):
    out, _ = finished
    with pytest.raises(LadderError, match="finished run"):
        pretrain(corpus, tiny(out))


def test_empty_and_one_document_corpora_are_refused(tmp_path):
    (tmp_path / "empty.jsonl").write_text("")
    with pytest.raises(LadderError, match="empty"):
        pretrain(tmp_path / "empty.jsonl", tiny(tmp_path / "a"))
    one = write_corpus(tmp_path / "one.jsonl", [{"text": "word " * 1000}])
    with pytest.raises(LadderError, match="1 document"):
        pretrain(one, tiny(tmp_path / "b"))


def test_corpus_too_small_for_the_context_is_refused_with_counts(corpus, tmp_path, wiki_rows):
    small = write_corpus(tmp_path / "small.jsonl", wiki_rows(12))
    with pytest.raises(LadderError, match=r"too small for --seq-len 2048: [\d,]+ train"):
        pretrain(small, tiny(tmp_path / "c", seq_len=2048))


@pytest.mark.parametrize("params", ["20Q", "-1M", "lots"])
def test_bad_params_string(params, tmp_path):
    with pytest.raises(LadderError, match="--params"):
        tiny(tmp_path, params=params)


def test_scratch_or_base_but_not_both(tmp_path):
    with pytest.raises(LadderError, match="either"):
        PretrainConfig(out=tmp_path, params="1M", base="smollm2-135m")
    with pytest.raises(LadderError, match="either"):
        PretrainConfig(out=tmp_path)


def test_out_of_memory_risk_is_refused_before_allocating(corpus, tmp_path):
    with pytest.raises(LadderError, match=r"out-of-memory risk: this run needs ~\d+\.\d GiB .* the limit is .* free memory"):
        pretrain(corpus, tiny(tmp_path / "big", params="3B"))
    assert not (tmp_path / "big" / "model").exists()


def test_memory_check_arithmetic():
    est = memory.estimate(10**9, 10**9, 1, 128, d_model=2048, n_layer=16, n_head=16, vocab=32000)
    assert est.weights * 2**30 == 4e9 and est.optimizer * 2**30 == 12e9
    memory.check(est, 40, "lower something")  # fits
    with pytest.raises(LadderError, match="gradients\\+optimizer 11.18.* the limit is 8.0 GiB; lower something"):
        memory.check(est, 8, "lower something")


def test_divergence_is_reported_not_trained_through(corpus, tmp_path):
    with pytest.raises(LadderError, match=r"training diverged: loss nan at step \d+; lower --lr"):
        pretrain(corpus, tiny(tmp_path / "boom", lr=1e9, steps=8))


def test_windows_start_with_bos_only_for_models_that_use_one():
    from ladder.train.pretrain_data import batch_at, bos_token

    class Tok:
        def __init__(self, adds):
            self.bos_token_id, self.adds = 2, adds

        def __call__(self, text, add_special_tokens):
            return {"input_ids": ([2] if self.adds else []) + [7]}

    assert bos_token(Tok(True)) == 2 and bos_token(Tok(False)) is None
    stream = torch.arange(100, 200)
    x, y = batch_at(stream, 3, 4, 8, seed=0, bos=2)
    x0, y0 = batch_at(stream, 3, 4, 8, seed=0)
    assert (x[:, 0] == 2).all() and torch.equal(x[:, 1:], x0[:, 1:]) and torch.equal(y, y0)


def test_time_budget_stops_after_the_step_that_crosses_it(corpus, tmp_path):
    r = pretrain(corpus, tiny(tmp_path / "budget", steps=500, max_minutes=0.0))  # any step crosses a zero budget
    assert r.steps == 1 and r.tokens_seen == 4 * 32

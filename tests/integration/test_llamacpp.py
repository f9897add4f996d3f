"""The embedded backend on the real bundled SmolLM2 model."""

import pytest

from ladder.manifest import sha256_path
from ladder.models import load_model
from ladder.models.base import ModelError
from ladder.models.bundled import BUNDLED, model_path

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def smol():
    return load_model("smollm2-135m")


def test_bundled_model_is_hash_checked(smol):
    assert sha256_path(str(model_path("smollm2-135m"))) == BUNDLED["smollm2-135m"].sha256
    assert smol.fingerprint == BUNDLED["smollm2-135m"].sha256


def test_generates_text_and_reports_usage(smol):
    out = smol.complete([{"role": "user", "content": "What is the capital of France? One word."}], max_tokens=8)
    assert out.text and out.usage.tokens_in > 10 and 0 < out.usage.tokens_out <= 8
    assert out.usage.seconds > 0 and out.usage.cpu_seconds > 0


def test_choices_returns_a_label_with_logprobs(smol):
    msgs = [{"role": "system", "content": "Answer with exactly one of: cat, dog, elephant."},
            {"role": "user", "content": "Which animal says woof?"}]
    out = smol.complete(msgs, choices=["cat", "dog", "elephant"])
    assert out.text in {"cat", "dog", "elephant"}
    assert set(out.choice_logprobs) == {"cat", "dog", "elephant"}
    assert out.choice_logprobs[out.text] == max(out.choice_logprobs.values())
    assert all(lp <= 0 for lp in out.choice_logprobs.values())


def test_choices_with_shared_prefixes_pick_a_whole_label(smol):
    labels = ["Physical sciences", "Philosophy and religion", "People", "Arts"]
    msgs = [{"role": "system", "content": "Classify the text. Answer with one of: " + ", ".join(labels)},
            {"role": "user", "content": "Albert Einstein was a German-born theoretical physicist."}]
    out = smol.complete(msgs, choices=labels)
    assert out.text in labels


def test_choice_scoring_matches_a_fresh_model(smol):
    """KV-prefix reuse must not change results: same answer and log-probs as a cold model."""
    msgs = [{"role": "system", "content": "Answer yes or no."}, {"role": "user", "content": "Is fire cold?"}]
    smol.complete([{"role": "user", "content": "warm up the cache with something else"}], choices=["a", "b"])
    warm = smol.complete(msgs, choices=["yes", "no"])
    cold = load_model("smollm2-135m", reuse=False).complete(msgs, choices=["yes", "no"])
    assert warm.text == cold.text
    for c in ("yes", "no"):
        assert warm.choice_logprobs[c] == pytest.approx(cold.choice_logprobs[c], abs=1e-3)


def test_missing_gguf_is_a_clear_error(tmp_path):
    with pytest.raises(ModelError, match="not found"):
        load_model(str(tmp_path / "missing.gguf"))

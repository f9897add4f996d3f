"""The tiny LLaMA: same numbers as transformers' LlamaForCausalLM, causal, sized by --params."""
import doctest

import pytest

torch = pytest.importorskip("torch")

from ladder.errors import LadderError
from ladder.train import model as M
from ladder.train.model import ModelConfig, TinyLlama, config_for_params


def tiny(**kw) -> TinyLlama:
    torch.manual_seed(0)
    cfg = dict(vocab_size=300, n_layer=2, n_head=4, n_kv_head=2, d_model=64, d_ff=160, max_seq=32)
    return TinyLlama(ModelConfig(**{**cfg, **kw}))


def test_doctests_hold():
    assert doctest.testmod(M).failed == 0


@pytest.mark.parametrize("kw", [{}, {"n_kv_head": 4}, {"tie_embeddings": False}])
def test_forward_matches_transformers_llama(tmp_path, kw):
    from transformers import AutoModelForCausalLM

    ours = tiny(**kw)
    ours.save_pretrained(tmp_path)
    ref = AutoModelForCausalLM.from_pretrained(str(tmp_path)).eval()
    idx = torch.randint(0, 300, (2, 24), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        torch.testing.assert_close(ours(idx), ref(input_ids=idx).logits, rtol=1e-4, atol=1e-5)
    assert ours.n_params() == ours.cfg.n_params() == sum(p.numel() for p in ref.parameters())


def test_save_and_load_round_trip(tmp_path):
    a = tiny()
    a.save_pretrained(tmp_path)
    b = TinyLlama.from_pretrained(tmp_path)
    idx = torch.randint(0, 300, (1, 16))
    assert torch.equal(a(idx), b(idx))
    assert b.lm_head.weight is b.embed_tokens.weight  # still tied after loading


def test_causal_future_tokens_do_not_change_the_past():
    m = tiny().eval()
    idx = torch.randint(0, 300, (1, 20))
    changed = idx.clone()
    changed[0, 15:] = (changed[0, 15:] + 1) % 300
    with torch.no_grad():
        torch.testing.assert_close(m(idx)[0, :15], m(changed)[0, :15])
        assert not torch.allclose(m(idx)[0, 15:], m(changed)[0, 15:])


def test_generate_extends_and_is_deterministic_when_greedy():
    m = tiny().eval()
    idx = torch.tensor([[1, 2, 3]])
    out = m.generate(idx, 5)
    assert out.shape == (1, 8) and torch.equal(out[:, :3], idx)
    assert torch.equal(out, m.generate(idx, 5))


@pytest.mark.parametrize("target,vocab", [(1_000_000, 2048), (5_000_000, 8192), (20_000_000, 8192),
                                          (125_000_000, 32000)])
def test_config_for_params_lands_near_the_target(target, vocab):
    cfg = config_for_params(target, vocab_size=vocab)
    assert 0.9 < cfg.n_params() / target < 1.1
    assert cfg.d_model % cfg.n_head == 0 and cfg.d_model / cfg.n_layer <= 96


def test_config_for_params_refuses_an_impossible_size():
    with pytest.raises(LadderError, match="--params"):
        config_for_params(10_000, vocab_size=8192)  # the embedding alone is bigger


def test_invariants_are_asserted():
    with pytest.raises(AssertionError):
        ModelConfig(d_model=100, n_head=3)
    with pytest.raises(AssertionError, match="max_seq"):
        tiny()(torch.zeros(1, 40, dtype=torch.long))


def test_not_ours_folder_is_refused(tmp_path):
    with pytest.raises(LadderError, match="config.json"):
        TinyLlama.from_pretrained(tmp_path)

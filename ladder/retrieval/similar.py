"""Pick few-shot demonstrations per input: the k nearest TRAIN examples by embedding.

`similar_selector(task, k)` embeds the rendered inputs of the train split once
(MiniLM, cached under LADDER_HOME keyed by the texts' hash) and returns a
function `example -> [k train examples]`, most similar last so the closest
demonstration sits right before the input.

Only the train split is ever a candidate. A train example whose input is the
same as the query's is skipped (it would hand the model the answer), and the
selector refuses to start when the train split contains test inputs.
"""
from __future__ import annotations

import hashlib
import json
from typing import Callable, Sequence

import numpy as np

from ladder.errors import LadderError
from ladder.home import ladder_home
from ladder.leaks import check_no_leak
from ladder.manifest import atomic_file
from ladder.task import Example, Task, template_fields

Embedder = Callable[[Sequence[str]], np.ndarray]


def _default_embed(texts: Sequence[str]) -> np.ndarray:
    from ladder.retrieval.dense import embed

    return np.asarray(embed(list(texts)), dtype=np.float32)


def _normalise(v: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(v, axis=-1, keepdims=True)
    return v / np.maximum(n, 1e-12)


def cached_embeddings(texts: list[str], embed: Embedder | None = None) -> np.ndarray:
    """Unit vectors of `texts`, shape (len(texts), dim).

    With the default embedder (embed=None) they are cached as .npy under
    LADDER_HOME/similar, keyed by the embedder and the texts' hash.
    """
    if embed is not None:
        return _normalise(np.asarray(embed(texts), dtype=np.float32))
    from ladder.retrieval.dense import DEFAULT_EMBEDDER

    blob = json.dumps([DEFAULT_EMBEDDER, texts], ensure_ascii=False).encode()
    path = ladder_home() / "similar" / f"{hashlib.sha256(blob).hexdigest()[:20]}.npy"
    if path.exists():
        vecs = np.load(path, allow_pickle=False)
        if vecs.shape[0] == len(texts):
            return vecs
    vecs = _normalise(_default_embed(texts))
    with atomic_file(path) as tmp, open(tmp, "wb") as f:
        np.save(f, vecs, allow_pickle=False)
    return vecs


def nearest(query_vec: np.ndarray, pool: np.ndarray, k: int, exclude: set[int] = frozenset()) -> list[int]:
    """Indices of the k rows of `pool` most similar (cosine) to `query_vec`, best first.

    >>> pool = np.array([[1.0, 0.0], [0.0, 1.0], [0.7, 0.7]])
    >>> nearest(np.array([1.0, 0.1]), pool, 2)
    [0, 2]
    >>> nearest(np.array([1.0, 0.1]), pool, 2, exclude={0})
    [2, 1]
    """
    sims = pool @ query_vec
    order = np.argsort(-sims, kind="stable")
    return [int(i) for i in order if int(i) not in exclude][:k]


def similar_selector(task: Task, k: int, embed: Embedder | None = None) -> Callable[[Example], list[Example]]:
    """A per-input demo picker over `task.train`; never returns a test example."""
    if not task.train:
        raise LadderError(f"{task.source}: the similar selector needs a train split to pick demonstrations from")
    if k < 1:
        raise LadderError(f"similar selector: k must be at least 1 (got {k})")
    fields = template_fields(task.input, task.source, "input")
    check_no_leak(task.test, task.train, "train examples offered as similar demos", fields)
    train_texts = [task.render(ex) for ex in task.train]
    pool = cached_embeddings(train_texts, embed)
    embed = embed or _default_embed
    by_text: dict[str, list[int]] = {}
    for i, t in enumerate(train_texts):
        by_text.setdefault(t, []).append(i)

    def pick(example: Example) -> list[Example]:
        text = task.render(example)
        q = _normalise(np.asarray(embed([text]), dtype=np.float32))[0]
        same = set(by_text.get(text, ()))  # never show the query itself as its own demo
        idx = nearest(q, pool, k, exclude=same)
        return [task.train[i] for i in reversed(idx)]  # closest last, next to the input

    return pick

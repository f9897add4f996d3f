"""Torch threads for retrieval work: one thread to embed a query or a few, every thread for bulk work
(embedding a corpus, scoring a query's candidates with a cross-encoder or a QLM).

The count is sticky rather than restored after each call: switching torch's thread pool costs
milliseconds, so consecutive queries stay on one thread. Bulk work therefore sets it back itself;
before this, a reranker that ran after a query embedding ran on one thread (half the speed on two
cores).
"""
from __future__ import annotations

SMALL_BATCH = 16  # a query or a few: one thread answers faster than several contending for shared cores

_THREADS: dict[str, int] = {}


def torch_threads(small: bool) -> None:
    """1 thread when `small`, else the count torch had at first use (the bulk count)."""
    import torch

    bulk = _THREADS.setdefault("bulk", torch.get_num_threads())
    want = 1 if small else bulk
    if torch.get_num_threads() != want:
        torch.set_num_threads(want)

"""Torch threads for retrieval work: one thread to embed a query or a few, the bulk count for bulk
work (embedding a corpus, scoring a query's candidates with a cross-encoder or a QLM, training).

The count is sticky rather than restored after each call: switching torch's thread pool costs
milliseconds, so consecutive queries stay on one thread. Bulk work therefore sets it back itself
(before it did, a reranker that ran after a query embedding ran on one of two cores).

The bulk count is what torch had when first asked, or what `set_bulk` (the trainers' `threads`)
or anyone else last set outside this module: a count found different from the one this module
set last is taken as the new bulk count.
"""
from __future__ import annotations

SMALL_BATCH = 16  # a query or a few: one thread answers faster than several contending for shared cores

_STATE: dict[str, int] = {}  # "bulk": the bulk count; "set": what this module set last


def torch_threads(small: bool) -> None:
    """1 thread when `small`, else the bulk count."""
    import torch

    now = torch.get_num_threads()
    if "bulk" not in _STATE or now != _STATE.get("set", now):
        _STATE["bulk"] = now  # first use, or set by someone else since: that is the bulk count
    want = 1 if small else _STATE["bulk"]
    if now != want:
        torch.set_num_threads(want)
    _STATE["set"] = want


def set_bulk(n: int) -> None:
    """Use `n` threads for bulk work from now on (and now)."""
    import torch

    torch.set_num_threads(n)
    _STATE["bulk"] = _STATE["set"] = n

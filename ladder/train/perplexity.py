"""Held-out perplexity of a language model: the same fixed windows before and after training.

    nll = window_nll(forward, stream, seq=256, max_tokens=16384, batch=8)   # mean loss per window
    perplexity(nll), perplexity_interval(nll)                                  # exp(mean), 95% bootstrap

The windows are consecutive and do not overlap, from the stream's start, so two
evaluations of one stream score the same tokens and can be compared pair by pair.
"""
from __future__ import annotations

import math
from collections.abc import Callable


def window_nll(forward: Callable, stream, seq: int, max_tokens: int, batch: int, bos: int | None = None) -> list[float]:
    """Mean next-token loss (nats) of each consecutive, non-overlapping window from the stream's start."""
    import torch
    import torch.nn.functional as F

    n_windows = max(1, min((len(stream) - 1) // seq, max_tokens // seq))
    out: list[float] = []
    with torch.no_grad():
        for i in range(0, n_windows, batch):
            rows = torch.stack([stream[w * seq: w * seq + seq + 1] for w in range(i, min(n_windows, i + batch))])
            x = rows[:, :-1].clone()
            if bos is not None:
                x[:, 0] = bos
            logits = forward(x)  # (b, T, V)
            loss = F.cross_entropy(logits.transpose(1, 2).float(), rows[:, 1:], reduction="none")  # (b, T)
            out.extend(loss.mean(dim=1).tolist())
    return out


def perplexity(nll: list[float]) -> float:
    """exp of the mean loss; windows have equal length, so this is the token-level perplexity.

    >>> round(perplexity([math.log(4), math.log(16)]), 3)  # geometric mean of 4 and 16
    8.0
    """
    return math.exp(sum(nll) / len(nll))


def perplexity_interval(nll: list[float], n_boot: int = 2000, seed: int = 0) -> tuple[float, float]:
    """95% bootstrap interval of the perplexity, resampling windows (seeded, so reproducible).

    >>> perplexity_interval([2.0] * 10)  # no spread, no uncertainty
    (7.389, 7.389)
    """
    from ladder.stats import bootstrap_ci

    lo, hi = bootstrap_ci(nll, samples=n_boot, seed=seed)  # perplexity = exp(mean nll), monotone in the mean
    return round(math.exp(lo), 3), round(math.exp(hi), 3)

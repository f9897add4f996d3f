"""Peak memory of an fp32 AdamW training step, estimated before anything is allocated.

One estimate for every trainer (LoRA fine-tuning and pretraining), so a run that
cannot fit is refused with the numbers instead of being killed by the kernel.
"""
from __future__ import annotations

from dataclasses import dataclass

from ladder.errors import LadderError

GIB = 1024 ** 3


@dataclass
class MemoryEstimate:
    """GiB by part; a planning figure, not a measurement."""

    weights: float  # every parameter in fp32, 4 B each
    optimizer: float  # gradients + two AdamW moments: 12 B per trainable parameter
    activations: float  # kept for the backward pass
    logits: float  # logits, their log-softmax and its gradient
    overhead: float = 0.5  # torch, Python, tokenizer

    @property
    def total(self) -> float:
        """The weights, what training allocates plus 20% allocator slack and temporaries, the runtime."""
        return self.weights + 1.2 * (self.optimizer + self.activations + self.logits) + self.overhead

    def describe(self) -> str:
        return (f"~{self.total:.1f} GiB (weights {self.weights:.1f}, gradients+optimizer {self.optimizer:.2f}, "
                f"activations {self.activations:.1f}, logits {self.logits:.1f}, runtime {self.overhead:.1f})")


def estimate(params: int, trainable: int, batch: int, seq: int, *, d_model: int, n_layer: int, n_head: int,
             vocab: int, logit_positions: int | None = None) -> MemoryEstimate:
    """Activations per layer ~ 2 x (34 b s d + 5 a b s^2) bytes: the 16-bit count of Korthikanti
    et al. (2022), doubled for fp32. `logit_positions`: positions per sequence projected onto the
    vocabulary (all `seq` by default; LoRA on answers projects only the answer tokens).

    >>> e = estimate(20_000_000, 20_000_000, 8, 256, d_model=448, n_layer=7, n_head=7, vocab=8192)
    >>> round(e.total, 2)
    1.84
    """
    kept = seq if logit_positions is None else logit_positions
    return MemoryEstimate(
        weights=4 * params / GIB,
        optimizer=12 * trainable / GIB,
        activations=n_layer * 2 * (34 * batch * seq * d_model + 5 * n_head * batch * seq * seq) / GIB,
        logits=3 * 4 * batch * kept * vocab / GIB,
    )


def available_gib() -> float:
    """What the system says can be allocated now (MemAvailable), or +inf if unknown."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) / 1024 ** 2
    except OSError:
        pass
    return float("inf")


def check(est: MemoryEstimate, limit_gib: float, what_to_do: str) -> None:
    """Refuse before allocating when the estimate exceeds `limit_gib`."""
    if est.total > limit_gib:
        raise LadderError(f"out-of-memory risk: this run needs {est.describe()} but the limit is {limit_gib:.1f} GiB; "
                          f"{what_to_do}")

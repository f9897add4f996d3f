"""What pretraining would cost at scale: scaling-law arithmetic, stated assumptions.

The whole estimate is four lines of arithmetic, kept as pure functions so every
number in the report can be checked by hand:

    FLOPs      = 6 * N * D                      (Kaplan et al. 2020: ~2ND forward + ~4ND backward)
    GPU-hours  = FLOPs / (peak FLOP/s * MFU) / 3600
    days       = GPU-hours / n_gpus / 24
    dollars    = GPU-hours * price per GPU-hour

and the compute-optimal token count D ~ 20 * N (Hoffmann et al. 2022,
"Chinchilla"). MFU (model FLOPs utilisation) is the fraction of the GPU's peak
that training really sustains; 0.4 is typical of a well-tuned large dense run
(PaLM reported 46%, Llama-style runs 38-43%), small or badly sharded runs get less.

Worked check against a published run: Llama 2 7B was trained on 2T tokens with
184,320 A100 GPU-hours (Touvron et al. 2023, table 2); this planner gives:

>>> round(gpu_hours(training_flops(7e9, 2e12), "a100", mfu=0.4))
186966
"""
from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, field
from typing import Any

from ladder.errors import LadderError

# Dense BF16/FP16 tensor-core peak per GPU in FLOP/s (no 2:4 sparsity), from the
# vendors' data sheets, and a rough on-demand cloud price per GPU-hour in USD
# (late-2025 list prices vary 2x between providers: override with --price).
GPUS: dict[str, dict[str, float]] = {
    "b200": {"peak_flops": 2250e12, "usd_per_hour": 6.00},
    "h200": {"peak_flops": 989e12, "usd_per_hour": 3.50},
    "h100": {"peak_flops": 989e12, "usd_per_hour": 2.50},  # SXM; the PCIe card is 756 TFLOP/s
    "mi300x": {"peak_flops": 1307e12, "usd_per_hour": 2.50},
    "a100": {"peak_flops": 312e12, "usd_per_hour": 1.50},
    "l40s": {"peak_flops": 362e12, "usd_per_hour": 1.00},
    "a10": {"peak_flops": 125e12, "usd_per_hour": 0.75},
    "l4": {"peak_flops": 121e12, "usd_per_hour": 0.70},
    "rtx4090": {"peak_flops": 165e12, "usd_per_hour": 0.40},
    "v100": {"peak_flops": 125e12, "usd_per_hour": 0.80},
    "t4": {"peak_flops": 65e12, "usd_per_hour": 0.35},
}

DEFAULT_MFU = 0.4
CHINCHILLA_TOKENS_PER_PARAM = 20
_SUFFIX = {"": 1, "k": 1e3, "m": 1e6, "b": 1e9, "g": 1e9, "t": 1e12, "p": 1e15}


def parse_count(text: str | int | float, what: str = "--params") -> int:
    """A human count like '20M', '7B', '1.5T', '3e9' or '125000' as an int.

    >>> parse_count("20M"), parse_count("7b"), parse_count("1.5T"), parse_count("3e9")
    (20000000, 7000000000, 1500000000000, 3000000000)
    """
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        value = float(text)
    else:
        m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)\s*([kKmMbBgGtTpP]?)\s*", str(text))
        if not m:
            raise LadderError(
                f"{what}: cannot read {text!r} as a count; write e.g. 20M, 135M, 7B, 1.5T or 3e9"
            )
        value = float(m.group(1)) * _SUFFIX[m.group(2).lower()]
    if not math.isfinite(value) or value < 1:
        raise LadderError(f"{what}: {text!r} must be a positive count, e.g. 20M or 7B")
    return int(round(value))


def human(n: float, unit: str = "") -> str:
    """Short form of a big number.

    >>> human(7e9), human(1.4e11), human(4.2e22, "FLOPs"), human(950)
    ('7B', '140B', '4.2e+22 FLOPs', '950')
    """
    if n >= 1e15:
        text = f"{n:.2g}"
    else:
        for div, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "k"), (1, "")):
            if n >= div:
                text = f"{n / div:.3g}{suffix}"
                break
        else:
            text = f"{n:.3g}"
    return f"{text} {unit}".strip()


def training_flops(params: float, tokens: float) -> float:
    """Training compute of a dense transformer: ~6 FLOPs per parameter per token.

    >>> training_flops(7e9, 1e12)
    4.2e+22
    """
    return 6.0 * params * tokens


def chinchilla_tokens(params: float) -> float:
    """Compute-optimal training tokens for a model size (~20 tokens per parameter).

    >>> chinchilla_tokens(7e9)
    140000000000.0
    """
    return CHINCHILLA_TOKENS_PER_PARAM * params


def compute_optimal_params(flops: float) -> float:
    """The model size a compute budget buys at ~20 tokens/param: C = 6*N*20N, so N = sqrt(C/120).

    >>> round(compute_optimal_params(5.88e23) / 1e9, 1)  # Chinchilla's own budget -> ~70B
    70.0
    """
    return math.sqrt(flops / (6.0 * CHINCHILLA_TOKENS_PER_PARAM))


def gpu_spec(gpu: str) -> dict[str, float]:
    key = gpu.lower().strip()
    if key not in GPUS:
        raise LadderError(f"--gpu: unknown GPU '{gpu}'; choose one of: {', '.join(GPUS)}")
    return GPUS[key]


def gpu_hours(flops: float, gpu: str, mfu: float = DEFAULT_MFU) -> float:
    """GPU-hours to do `flops` of training at a sustained fraction `mfu` of the GPU's peak.

    >>> round(gpu_hours(4.2e22, "h100"))  # 7B params on 1T tokens
    29491
    """
    if not 0 < mfu <= 1:
        raise LadderError(f"--mfu: {mfu} must be in (0, 1]; 0.3-0.5 is typical of large dense runs")
    return flops / (gpu_spec(gpu)["peak_flops"] * mfu) / 3600.0


@dataclass
class Plan:
    params: int
    tokens: int
    gpu: str
    n_gpus: int
    mfu: float
    usd_per_gpu_hour: float
    flops: float
    gpu_hours: float
    days: float
    dollars: float
    chinchilla_tokens: float
    tokens_per_param: float
    assumptions: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def plan(
    params: int,
    tokens: int | None = None,
    gpu: str = "h100",
    n_gpus: int = 8,
    mfu: float = DEFAULT_MFU,
    usd_per_gpu_hour: float | None = None,
) -> Plan:
    """The cost of training `params` on `tokens` (default: compute-optimal 20*N) on `n_gpus`.

    >>> p = plan(7_000_000_000, 1_000_000_000_000, gpu="h100", n_gpus=8)
    >>> round(p.gpu_hours), round(p.days, 1), round(p.dollars)
    (29491, 153.6, 73728)
    >>> plan(20_000_000, gpu="a100", n_gpus=1).tokens  # 20M params -> 400M tokens
    400000000
    """
    if n_gpus < 1:
        raise LadderError(f"--gpus: {n_gpus} must be at least 1")
    spec = gpu_spec(gpu)
    optimal = chinchilla_tokens(params)
    tokens = int(optimal) if tokens is None else int(tokens)
    price = spec["usd_per_hour"] if usd_per_gpu_hour is None else float(usd_per_gpu_hour)
    if price < 0:
        raise LadderError(f"--price: {price} must not be negative")
    flops = training_flops(params, tokens)
    hours = gpu_hours(flops, gpu, mfu)
    assumptions = [
        "FLOPs = 6 x params x tokens (forward + backward of a dense transformer; attention FLOPs ignored)",
        f"{gpu.lower()} peak {spec['peak_flops'] / 1e12:.0f} TFLOP/s dense BF16 per GPU, sustained at MFU {mfu:.0%}",
        f"price ${price:.2f} per GPU-hour ({'given' if usd_per_gpu_hour is not None else 'rough on-demand list price'})",
        f"{n_gpus} GPU(s) scale linearly (no communication overhead beyond what MFU absorbs)",
        "compute-optimal tokens ~ 20 x params (Chinchilla); excludes evaluation, restarts and failed runs",
    ]
    return Plan(
        params=int(params), tokens=tokens, gpu=gpu.lower(), n_gpus=n_gpus, mfu=mfu,
        usd_per_gpu_hour=price, flops=flops, gpu_hours=hours, days=hours / n_gpus / 24.0,
        dollars=hours * price, chinchilla_tokens=optimal, tokens_per_param=tokens / params,
        assumptions=assumptions,
    )


def run_cost(params: int, tokens: int, wall_seconds: float, cpu_seconds: float,
             usd_per_cpu_hour: float) -> dict[str, float]:
    """What a measured (CPU) training run cost: FLOPs done, achieved FLOP/s, and money.

    Money is CPU-hours x price, the way ladder prices every local model call
    (`ladder.cost`), so training and serving costs add up in one currency.

    >>> c = run_cost(20_000_000, 1_000_000, wall_seconds=600, cpu_seconds=1100, usd_per_cpu_hour=0.05)
    >>> f"{c['flops']:.2g}", round(c["flops_per_second"] / 1e9), round(c["dollars"], 4)
    ('1.2e+14', 200, 0.0153)
    """
    flops = training_flops(params, tokens)
    return {
        "flops": flops,
        "flops_per_second": flops / wall_seconds if wall_seconds > 0 else 0.0,
        "wall_seconds": wall_seconds,
        "cpu_seconds": cpu_seconds,
        "usd_per_cpu_hour": usd_per_cpu_hour,
        "dollars": cpu_seconds / 3600.0 * usd_per_cpu_hour,
    }

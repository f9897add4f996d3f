"""Money: a price table, cost per 1,000 requests, one-time costs and amortisation.

Local models are priced per CPU-hour of the CPU time they used; API models per
token. Defaults below are stated assumptions, overridden by a task's
`[prices]` table or a `--prices file.toml`:

    cpu_hour = 0.05                       # USD per CPU-core-hour
    gpu_hour = 2.5                        # USD per GPU-hour (training plans)
    [models."openai/gpt-4o-mini"]
    input_per_million = 0.15
    output_per_million = 0.60
"""
from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from ladder.errors import LadderError
from ladder.models.base import Usage

DEFAULT_PRICES: dict[str, Any] = {
    "cpu_hour": 0.05,  # roughly an on-demand cloud vCPU-hour
    "gpu_hour": 2.5,  # roughly an on-demand H100-hour from a GPU cloud
    "models": {},  # per-model token prices for API backends
}


def load_prices(*overrides: dict[str, Any] | str | Path | None) -> dict[str, Any]:
    """Defaults, then each override in turn (a dict, or a TOML file path)."""
    prices = {**DEFAULT_PRICES, "models": dict(DEFAULT_PRICES["models"])}
    for o in overrides:
        if not o:
            continue
        if not isinstance(o, dict):
            path = o
            try:
                o = tomllib.loads(Path(path).read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
                raise LadderError(f"{path}: cannot read the price table ({e})") from None
            from ladder.task import check_prices  # types and ranges, as for a task's [prices]

            check_prices(o, str(path))
        for k, v in o.items():
            if k == "models":
                prices["models"].update(v)
            elif k in ("cpu_hour", "gpu_hour") and isinstance(v, (int, float)):
                prices[k] = float(v)
            else:
                raise LadderError(f"prices: unknown or invalid field '{k}'; known: cpu_hour, gpu_hour, models")
    return prices


def usage_cost(usage: Usage, model: str, local: bool, prices: dict[str, Any]) -> float | None:
    """USD for this usage; None when an API model has no price in the table.

    >>> usage_cost(Usage(0, 0, 10, 7200), "smollm2-135m", True, DEFAULT_PRICES)  # 2 CPU-hours
    0.1
    """
    if local:
        return usage.cpu_seconds / 3600 * prices["cpu_hour"]
    p = prices["models"].get(model)
    if not p:
        return None
    return usage.tokens_in / 1e6 * p.get("input_per_million", 0) + usage.tokens_out / 1e6 * p.get("output_per_million", 0)


def per_1k(total: float | None, n: int) -> float | None:
    """Scale a total over n requests to 1,000 requests."""
    return None if total is None or n == 0 else total / n * 1000


def amortised_per_1k(per_request_1k: float | None, one_time: float, requests: int) -> float | None:
    """Cost per 1,000 requests once a one-time cost is spread over `requests` requests.

    >>> amortised_per_1k(0.5, 10.0, 100_000)  # 10 USD over 100k requests adds 0.1 per 1k
    0.6
    """
    if per_request_1k is None:
        return None
    return per_request_1k + (one_time / requests * 1000 if requests else 0.0)

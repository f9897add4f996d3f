"""The built-in model backends, as records the `ladder.models` registry holds.

A backend plugin is one `Backend`: which specs it answers to, how to load one,
whether its weights are local (trainable, priced per CPU-hour) and a rough size
for ordering a climb small -> large. Register it under the `ladder.models`
entry-point group (or `MODELS.register(name, backend)`).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from ladder.models.base import Model


def _unknown_size(spec: str) -> float:
    return float("inf")  # servers: usually the big model, so last


@dataclass(frozen=True)
class Backend:
    name: str
    matches: Callable[[str], bool]  # does this backend serve `spec`?
    load: Callable[..., Model]  # load(spec, *, base_url, api_key, lora_path) -> Model
    local: bool  # weights on this machine: trainable, priced per CPU-hour
    size: Callable[[str], float] = _unknown_size  # rough parameter count, without loading anything
    example: str = ""  # shown in the "unknown model" message


def _load_openai(spec: str, *, base_url: str | None = None, api_key: str | None = None, **_: Any) -> Model:
    from ladder.models.openai_http import OpenAIModel

    return OpenAIModel(spec.removeprefix("openai/"), base_url=base_url, api_key=api_key)


def _is_bundled(spec: str) -> bool:
    from ladder.models.bundled import BUNDLED

    return spec in BUNDLED


def _load_bundled(spec: str, *, lora_path: str | None = None, **_: Any) -> Model:
    from ladder.models.bundled import BUNDLED, model_path
    from ladder.models.llamacpp import LlamaCppModel

    b = BUNDLED[spec]
    return LlamaCppModel(model_path(spec), name=spec, sha256=b.sha256, params=b.params, lora_path=lora_path)


def _bundled_size(spec: str) -> float:
    from ladder.models.bundled import BUNDLED

    return BUNDLED[spec].params


def _load_gguf(spec: str, *, lora_path: str | None = None, **_: Any) -> Model:
    from ladder.models.llamacpp import LlamaCppModel

    return LlamaCppModel(Path(spec), lora_path=lora_path)


def _gguf_size(spec: str) -> float:
    return Path(spec).stat().st_size * 2 if Path(spec).exists() else float("inf")


OPENAI = Backend("openai", lambda s: s.startswith("openai/"), _load_openai, local=False,
                 example="openai/<model> for an OpenAI-compatible server")
BUNDLED = Backend("bundled", _is_bundled, _load_bundled, local=True, size=_bundled_size,
                  example="a bundled name (ladder models)")
GGUF = Backend("gguf", lambda s: s.endswith(".gguf"), _load_gguf, local=True, size=_gguf_size,
               example="a path to a .gguf file")

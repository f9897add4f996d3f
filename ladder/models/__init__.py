"""Model backends behind one contract (see base.py), and `load_model(spec)`.

spec: a bundled name (`smollm2-135m`, ...), a path to any `.gguf`, or
`openai/<model>` for an OpenAI-compatible server.
"""
from __future__ import annotations

from pathlib import Path

from ladder.models.base import Completion, Message, Model, ModelError, Usage

__all__ = ["Completion", "Message", "Model", "ModelError", "Usage", "is_local", "load_model", "model_size"]

_LOADED: dict[tuple, Model] = {}


def load_model(spec: str, *, base_url: str | None = None, api_key: str | None = None,
               lora_path: str | None = None, reuse: bool = True) -> Model:
    """Resolve a model spec to a loaded backend; loaded GGUF weights are reused within a process."""
    from ladder.models.bundled import BUNDLED, model_path

    key = (spec, base_url, lora_path)
    if reuse and key in _LOADED:
        return _LOADED[key]
    if spec.startswith("openai/"):
        from ladder.models.openai_http import OpenAIModel

        model: Model = OpenAIModel(spec.removeprefix("openai/"), base_url=base_url, api_key=api_key)
    elif spec in BUNDLED:
        from ladder.models.llamacpp import LlamaCppModel

        b = BUNDLED[spec]
        model = LlamaCppModel(model_path(spec), name=spec, sha256=b.sha256, params=b.params, lora_path=lora_path)
    elif spec.endswith(".gguf"):
        from ladder.models.llamacpp import LlamaCppModel

        model = LlamaCppModel(Path(spec), lora_path=lora_path)
    else:
        raise ModelError(
            f"unknown model '{spec}'; use one of {', '.join(BUNDLED)}, a path to a .gguf file, "
            "or openai/<model> for an OpenAI-compatible server"
        )
    if reuse:
        _LOADED[key] = model
    return model


def is_local(spec: str) -> bool:
    """Weights on this machine (a bundled name or a .gguf path), so they can be trained."""
    from ladder.models.bundled import BUNDLED

    return spec in BUNDLED or spec.endswith(".gguf")


def model_size(spec: str) -> float:
    """Rough parameter count used to order a climb small -> large, without loading anything."""
    from ladder.models.bundled import BUNDLED

    if spec in BUNDLED:
        return BUNDLED[spec].params
    if spec.endswith(".gguf") and Path(spec).exists():
        return Path(spec).stat().st_size * 2
    return float("inf")  # servers: usually the big model, so last

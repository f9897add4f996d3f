"""Model backends behind one contract (see base.py), and `load_model(spec)`.

spec: a bundled name (`smollm2-135m`, ...), a path to any `.gguf`, or
`openai/<model>` for an OpenAI-compatible server.
"""
from __future__ import annotations

from typing import Any

from ladder.models.base import Completion, Message, Model, ModelError, Usage
from ladder.registry import Registry

__all__ = ["MODELS", "Completion", "Message", "Model", "ModelError", "Usage", "backend_for", "is_local", "load_model",
           "model_size"]

_LOADED: dict[tuple, Model] = {}

# Backends are plugins (entry-point group `ladder.models`), the built-ins included (models/backends.py).
MODELS: Registry[Any] = Registry("ladder.models", "model backend")


def backend_for(spec: str) -> Any:
    """The registered Backend that serves `spec`."""
    for name in MODELS.names():
        backend = MODELS.get(name)
        if backend.matches(spec):
            return backend
    from ladder.models.bundled import BUNDLED

    hints = [MODELS.get(n).example for n in MODELS.names() if MODELS.get(n).example]
    raise ModelError(f"unknown model '{spec}'; use one of {', '.join(BUNDLED)}, " + ", or ".join(hints))


def load_model(spec: str, *, base_url: str | None = None, api_key: str | None = None,
               lora_path: str | None = None, reuse: bool = True) -> Model:
    """Resolve a model spec to a loaded backend; loaded weights are reused within a process."""
    key = (spec, base_url, lora_path)
    if reuse and key in _LOADED:
        return _LOADED[key]
    model = backend_for(spec).load(spec, base_url=base_url, api_key=api_key, lora_path=lora_path)
    if reuse:
        _LOADED[key] = model
    return model


def is_local(spec: str) -> bool:
    """Weights on this machine (a bundled name or a .gguf path), so they can be trained."""
    try:
        return backend_for(spec).local
    except ModelError:
        return False


def model_size(spec: str) -> float:
    """Rough parameter count used to order a climb small -> large, without loading anything."""
    try:
        return backend_for(spec).size(spec)
    except ModelError:
        return float("inf")

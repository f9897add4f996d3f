"""Rungs, cheapest first. Each is `compile(task, model, options) -> Program`.

Registered by module path so that `ladder --help` imports none of them.
"""
from __future__ import annotations

import importlib
from typing import Any, Callable

from ladder.errors import LadderError

# name -> "module:function"; the order is the climb's cost order.
RUNGS: dict[str, str] = {
    "zero-shot": "ladder.rungs.zero_shot:compile",
    "few-shot": "ladder.rungs.few_shot:compile",
    "rag": "ladder.rungs.rag:compile",
    "finetune": "ladder.rungs.finetune:compile",
    "pretrain": "ladder.rungs.pretrain:compile",
}


def get_rung(name: str) -> Callable[..., Any]:
    if name not in RUNGS:
        raise LadderError(f"unknown rung '{name}'; choose one of: {', '.join(RUNGS)}")
    module, func = RUNGS[name].split(":")
    try:
        return getattr(importlib.import_module(module), func)
    except ModuleNotFoundError as e:
        raise LadderError(f"rung '{name}' needs a missing package ({e.name}); run 'make install'") from None

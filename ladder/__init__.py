"""ladder: start with a prompt, measure on your own examples, climb only as far as the numbers say.

    import ladder
    task = ladder.load_task("task.toml")
    result = ladder.climb(task, models=["smollm2-135m"], rungs=["zero-shot", "few-shot"], limit=20)
    print(result.recommendation)

`ladder.climb` has the same defaults as `ladder climb` (every rung that applies, the installed
bundled models, 10 minutes per training rung). Names are imported on first use, so
`import ladder` stays light.
"""
from __future__ import annotations

from importlib import import_module
from typing import Any

__version__ = "0.1.0"

# public name -> "module:attribute"
_API = {
    "Task": "ladder.task:Task",
    "load_task": "ladder.task:load_task",
    "Model": "ladder.models.base:Model",
    "load_model": "ladder.models:load_model",
    "climb": "ladder.advisor:climb",
    "run_rung": "ladder.advisor:run_rung",
    "evaluate": "ladder.evaluation:evaluate",
    "load": "ladder.saved:load",
    "Store": "ladder.store:Store",
    "LadderError": "ladder.errors:LadderError",
    "Registry": "ladder.registry:Registry",
    "RungSpec": "ladder.rungs.base:RungSpec",
    "Program": "ladder.rungs.base:Program",
    "Backend": "ladder.models.backends:Backend",
    "CorpusReader": "ladder.retrieval.corpus:CorpusReader",
    # the registries: rungs, model backends, metrics, rerankers, corpus readers, task split formats
    "RUNGS": "ladder.rungs:RUNGS",
    "MODELS": "ladder.models:MODELS",
    "METRICS": "ladder.metrics:METRICS",
    "RERANKERS": "ladder.retrieval.rerank:RERANKERS",
    "READERS": "ladder.retrieval.corpus:READERS",
    "SPLIT_READERS": "ladder.splits:SPLIT_READERS",
}

__all__ = ["__version__", *_API]


def __getattr__(name: str) -> Any:
    if name not in _API:
        raise AttributeError(f"module 'ladder' has no attribute '{name}'")
    module, attr = _API[name].split(":")
    value = getattr(import_module(module), attr)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)

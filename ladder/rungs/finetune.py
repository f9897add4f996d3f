"""Fine-tune: a LoRA adapter trained on the train split, served by llama.cpp on top of the base GGUF.

The program asks like zero-shot without the list of labels (the model was trained that way;
see `system_prompt`); label tasks keep constrained decoding over the labels. Adapters are cached in
`$LADDER_HOME/adapters/`, keyed by the training data, the base weights' hash and
the config: a second climb reuses the adapter, and `program.one_time` still reports
what training it cost.

Options (all optional): any LoraConfig field, e.g. {"epochs": 2, "max_examples": 500,
"max_steps": 100, "rank": 8, "lr": 3e-4}.
"""
from __future__ import annotations

import functools
import hashlib
import json
import sys
from dataclasses import asdict
from typing import Any

from ladder.errors import LadderError
from ladder.models.base import Model, Usage
from ladder.rungs.base import Program, RungSpec
from ladder.task import Task


def base_spec(model: Model) -> str:
    """The bundled name or GGUF path behind a (possibly cached) llama.cpp model."""
    from ladder.models import is_local

    inner = getattr(model, "inner", model)
    for spec in (inner.name, str(getattr(inner, "path", ""))):
        if is_local(spec):
            return spec
    raise LadderError(
        f"the finetune rung needs a local GGUF model (a bundled name or a .gguf path), not '{inner.name}'; "
        "to learn from a model you cannot fine-tune, use 'ladder distill --teacher ...'"
    )


PROMPT = "instruction-without-label-list"  # part of the adapter key: adapters trained on other prompts are not reused


def adapter_dir(task: Task, spec: str, config: Any) -> Any:
    from ladder.home import ladder_home
    from ladder.models.hf import resolve_base

    ref = resolve_base(spec)
    key = hashlib.sha256(json.dumps([task.fingerprint(), ref.fingerprint, asdict(config), PROMPT], sort_keys=True,
                                    default=str).encode()).hexdigest()[:16]
    return ladder_home() / "adapters" / f"{task.name}-{ref.name}-{key}"


def compile(task: Task, model: Model, options: dict[str, Any] | None = None) -> Program:
    try:
        from ladder.train.lora import LoraConfig, finetune
    except ModuleNotFoundError as e:
        raise LadderError(f"the finetune rung needs the training extras ({e.name}); run 'make install'") from None
    spec = base_spec(model)
    opts = dict(options or {})
    calibrate = bool(opts.pop("calibrate", False))  # shared rung option; training usually makes it unneeded
    config = LoraConfig.from_options(opts)
    result = finetune(task, spec, adapter_dir(task, spec, config), config, progress=sys.stderr.isatty())
    if result.gguf is None:
        raise LadderError(f"{result.out}: no adapter.gguf was written; delete the folder and train again")
    describe = {"rank": config.rank, "epochs": result.config["epochs"], "steps": result.steps,
                "examples": result.meta.get("n_train"), "lr": config.lr, "adapter": str(result.out),
                "final_loss": result.curve[-1]["loss"] if result.curve else None, "flops": result.flops,
                "calibrate": calibrate}
    return served_program(task, spec, result.gguf, store=getattr(model, "store", None), config=describe,
                          one_time=result.usage)


def served_program(task: Task, spec: str, adapter_gguf: Any, *, store: Any = None, config: dict[str, Any] | None = None,
                   one_time: Usage | None = None) -> Program:
    """The one way to build a fine-tuned program: the base with its GGUF LoRA, prompted as in training
    (no label list: the adapter learnt the labels from its answers). Used by the rung, `ladder
    finetune --eval`, distillation and saved programs, so their scores are the same program's."""
    from ladder.models import load_model

    served: Model = load_model(spec, lora_path=str(adapter_gguf))
    if store is not None:
        from ladder.store import CachedModel

        served = CachedModel(served, store)
    return Program("finetune", task, served, config=dict(config or {}), one_time=one_time or Usage(),
                   list_labels=False)


def evaluate_adapter(task: Task, spec: str, adapter_gguf: Any, *, limit: int | None = None,
                     one_time: Usage | None = None) -> Any:
    """Score a trained adapter on the task's (sampled) test split as the rung would serve it."""
    from ladder.evaluation import evaluate

    program = served_program(task, spec, adapter_gguf, one_time=one_time)
    return evaluate(program, task.test_sample(limit), task.metric, **task.scoring())


@functools.cache  # one class per process: built from the training config on first use
def options() -> type:
    """The LoRA config's fields (ladder.train.lora.LoraConfig) plus the shared `calibrate`."""
    from dataclasses import make_dataclass

    from ladder.train.lora import LoraConfig

    return make_dataclass("FinetuneOptions", [("calibrate", "bool", False)], bases=(LoraConfig,))


RUNG = RungSpec("finetune", compile, cost_rank=40, options=options, needs_local_weights=True, trains=True,
                summary="a LoRA adapter trained on the train split")

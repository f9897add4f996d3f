"""Zero-shot: the instruction and the input, nothing else."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ladder.models.base import Model
from ladder.rungs.base import Program, RungSpec
from ladder.task import Task


@dataclass
class Options:
    calibrate: bool = False  # subtract the label prior measured on content-free inputs


def compile(task: Task, model: Model, options: dict[str, Any] | None = None) -> Program:
    opts = options or {}
    return Program("zero-shot", task, model, config={"calibrate": bool(opts.get("calibrate", False))})


RUNG = RungSpec("zero-shot", compile, cost_rank=10, options=Options,
                summary="the instruction and the input, nothing else")

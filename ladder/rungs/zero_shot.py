"""Zero-shot: the instruction and the input, nothing else."""
from __future__ import annotations

from typing import Any

from ladder.models.base import Model
from ladder.rungs.base import Program
from ladder.task import Task


def compile(task: Task, model: Model, options: dict[str, Any] | None = None) -> Program:
    opts = options or {}
    return Program("zero-shot", task, model, config={"calibrate": bool(opts.get("calibrate", False))})

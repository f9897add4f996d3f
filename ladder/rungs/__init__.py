"""Rungs, cheapest first. Each is a `RungSpec` record (ladder.rungs.base) whose
`compile(task, model, options) -> Program` turns a task into a program.

Rungs are plugins: the built-ins register through the `ladder.rungs` entry-point
group like any other package's (pyproject.toml), so `ladder --help` imports none
of them and the climb asks the record (cost rank, needs a corpus, local weights,
training), never the rung's name.
"""
from __future__ import annotations

from typing import Any, Callable

from ladder.registry import Registry
from ladder.rungs.base import Program, RungSpec

__all__ = ["RUNGS", "Program", "RungSpec", "get_rung", "rung_names", "rung_spec"]

RUNGS: Registry[RungSpec] = Registry("ladder.rungs", "rung")


def rung_spec(name: str) -> RungSpec:
    return RUNGS.get(name)


def rung_names() -> list[str]:
    """Every registered rung, cheapest first."""
    return sorted(RUNGS.names(), key=lambda n: rung_spec(n).cost_rank)


def get_rung(name: str) -> Callable[..., Program]:
    """`compile(task, model, options) -> Program` for a rung, with its options checked."""
    return rung_spec(name).build


def describe(name: str) -> dict[str, Any]:
    s = rung_spec(name)
    return {"name": s.name, "cost_rank": s.cost_rank, "needs_corpus": s.needs_corpus,
            "needs_local_weights": s.needs_local_weights, "trains": s.trains, "summary": s.summary,
            "options": sorted(s.option_fields())}

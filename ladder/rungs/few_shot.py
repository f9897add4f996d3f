"""Few-shot: k demonstrations from the train split, before the input.

Selectors are small functions picked by name. `fixed`, `random` and
`balanced` choose the demos once, so every prompt shares the same prefix and
the llama.cpp backend reuses its KV cache instead of re-reading the demos.
`similar` picks the k nearest train examples per input (by embedding).
"""
from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass
from typing import Any, Callable

from ladder.errors import LadderError
from ladder.leaks import check_no_leak
from ladder.models.base import Message, Model
from ladder.prompts import demo_turns, system_prompt
from ladder.rungs.base import Program, RungSpec
from ladder.task import Example, Task


def select_fixed(task: Task, k: int, seed: int) -> list[Example]:
    """The first k train examples, in file order."""
    return task.train[:k]


def select_random(task: Task, k: int, seed: int) -> list[Example]:
    return random.Random(seed).sample(task.train, min(k, len(task.train)))


def select_balanced(task: Task, k: int, seed: int) -> list[Example]:
    """Round-robin over labels (shuffled per label, seeded) so no label dominates the demos."""
    rng = random.Random(seed)
    by_label: dict[str, list[Example]] = defaultdict(list)
    for ex in task.train:
        by_label[task.answer(ex)].append(ex)
    for pool in by_label.values():
        rng.shuffle(pool)
    order = sorted(by_label)
    rng.shuffle(order)
    demos: list[Example] = []
    while len(demos) < min(k, len(task.train)):
        for label in order:
            if by_label[label] and len(demos) < k:
                demos.append(by_label[label].pop())
    rng.shuffle(demos)
    return demos


SELECTORS: dict[str, Callable[[Task, int, int], list[Example]]] = {
    "fixed": select_fixed,
    "random": select_random,
    "balanced": select_balanced,
}
PER_INPUT_SELECTORS = {"similar"}


class FewShot(Program):
    demos: list[Example]
    pick: Callable[[Example], list[Example]] | None = None  # per-input selector

    def messages(self, example: Example) -> list[Message]:
        demos = self.pick(example) if self.pick else self.demos
        return [
            {"role": "system", "content": system_prompt(self.task)},
            *demo_turns(self.task, demos),
            {"role": "user", "content": self.task.render(example)},
        ]


def compile(task: Task, model: Model, options: dict[str, Any] | None = None) -> Program:
    opts = options or {}
    k, seed = int(opts.get("k", 8 if task.labels is None else max(4, min(len(task.labels), 12)))), int(opts.get("seed", 0))
    selector = opts.get("selector", "balanced" if task.labels else "random")
    if not task.train:
        raise LadderError(f"{task.source}: few-shot needs a train split to draw demonstrations from")
    prog = FewShot("few-shot", task, model, config={"k": k, "selector": selector, "seed": seed,
                                                          "calibrate": bool(opts.get("calibrate", False))})
    if selector in SELECTORS:
        prog.demos = SELECTORS[selector](task, k, seed)
        check_no_leak(task.test, prog.demos, "few-shot demos", _input_fields(task))
    elif selector in PER_INPUT_SELECTORS:
        from ladder.retrieval.similar import similar_selector

        prog.demos = []
        prog.pick = similar_selector(task, k)
    else:
        names = ", ".join([*SELECTORS, *PER_INPUT_SELECTORS])
        raise LadderError(f"unknown selector '{selector}'; choose one of: {names}")
    return prog


def save_state(program: Program) -> dict[str, Any]:
    """What a saved program needs beyond task and config (ladder.saved): the chosen demos, or for a
    per-input selector the train split it picks from (stored as the saved task's train)."""
    if getattr(program, "pick", None) is not None:
        return {"demos": [], "train": program.task.train}
    return {"demos": list(program.demos)}


def restore(task: Task, model: Model, config: dict[str, Any], state: dict[str, Any], verify: bool = True) -> Program:
    """The program `save_state` described: the same demos in the same order (nothing is re-drawn)."""
    prog = FewShot("few-shot", task, model, config=config)
    prog.demos = list(state.get("demos") or [])
    if config.get("selector") in PER_INPUT_SELECTORS:
        from ladder.retrieval.similar import similar_selector

        prog.pick = similar_selector(task, int(config["k"]))
    return prog


def _input_fields(task: Task) -> list[str]:
    from ladder.task import template_fields

    return template_fields(task.input, task.source, "input")


@dataclass
class Options:
    k: int | None = None  # demos per prompt; None: 8, or one per label (4-12) for label tasks
    selector: str | None = None  # fixed, random, balanced, similar; None: balanced for labels, else random
    seed: int = 0  # seeds the demo draw
    calibrate: bool = False


RUNG = RungSpec("few-shot", compile, cost_rank=20, options=Options,
                summary="demonstrations from the train split before the input")

"""An example plugin: the `nearest` rung, the `mentions` metric and the `canned/<answer>` backend."""
from __future__ import annotations

from dataclasses import dataclass

from ladder.models.backends import Backend
from ladder.models.base import Completion, Model, Usage
from ladder.rungs.base import Program, RungSpec
from ladder.task import Example, Task
from ladder.testing import DummyModel


def _words(text: str) -> set[str]:
    return set(text.lower().split())


@dataclass
class Options:
    min_overlap: int = 1  # fewer shared words than this: fall back to the model


class Nearest(Program):
    """Answers with the output of the train example sharing the most words with the input;
    asks the model only when no train example shares `min_overlap` words."""

    def __call__(self, example: Example) -> Completion:
        words = _words(self.task.render(example))
        best = max(self.task.train, key=lambda ex: len(words & _words(self.task.render(ex))))
        if len(words & _words(self.task.render(best))) >= self.config["min_overlap"]:
            return Completion(self.task.answer(best), Usage(len(words), 1, 0.0, 0.0))
        return super().__call__(example)


def compile(task: Task, model: Model, options: dict) -> Program:
    return Nearest("nearest", task, model, config={"min_overlap": options.get("min_overlap", 1)})


RUNG = RungSpec("nearest", compile, cost_rank=5, options=Options, summary="the nearest train example's answer")


def mentions(prediction: str, reference: object) -> float:
    """1.0 when the reference appears in the prediction, ignoring case.

    >>> mentions("It is Positive.", "positive")
    1.0
    """
    return float(str(reference).lower() in prediction.lower())


CANNED = Backend("canned", lambda spec: spec.startswith("canned/"),
                 lambda spec, **kw: DummyModel(name=spec, default=spec.removeprefix("canned/"), params=1),
                 local=False, size=lambda spec: 1.0, example="canned/<answer> (ladder-plugin-example)")

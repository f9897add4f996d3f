"""A Program answers one input. Every rung compiles a Task into one.

The evaluator only calls `program(example) -> Completion` and reads
`program.one_time` (what building it cost, e.g. training) and
`program.config` (what identifies it, for run keys and reports).

Subclasses usually override `messages()` only; `__call__` takes care of label
sets: a backend that scores choices picks among the labels directly, any other
backend answers in free text that is mapped onto the nearest label.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Callable

from ladder.errors import LadderError
from ladder.models.base import Completion, Message, Model, Usage, pick_choice
from ladder.prompts import system_prompt
from ladder.task import Example, Task, template_fields

LABEL_MAX_TOKENS = 16
# Contextual calibration (Zhao et al., 2021): small models carry a strong prior for some labels
# whatever the input; the label scores of these content-free inputs estimate that prior.
CONTENT_FREE = ["N/A", "", "[MASK]"]


@dataclass
class Program:
    rung: str
    task: Task
    model: Model
    config: dict[str, Any] = field(default_factory=dict)
    one_time: Usage = field(default_factory=Usage)  # cost of building it (training, indexing)
    list_labels: bool = True  # False for fine-tuned models: they were trained without the label list
    _prior: dict[str, float] | None = field(default=None, repr=False)

    def messages(self, example: Example) -> list[Message]:
        return [
            {"role": "system", "content": system_prompt(self.task, self.list_labels)},
            {"role": "user", "content": self.task.render(example)},
        ]

    def __call__(self, example: Example) -> Completion:
        msgs = self.messages(example)
        labels = self.task.labels
        if labels and self.model.scores_choices:
            out = self.model.complete(msgs, choices=labels)
            if self.config.get("calibrate") and out.choice_logprobs:
                prior = self.label_prior()
                out.text = max(labels, key=lambda c: out.choice_logprobs[c] - prior[c])
            return out
        out = self.model.complete(msgs, max_tokens=LABEL_MAX_TOKENS if labels else self.task.answer_budget)
        if labels:
            raw = out.text
            out.text = pick_choice(raw, labels) or raw.strip()
        return out

    def label_prior(self) -> dict[str, float]:
        """Mean label log-probs for content-free inputs (computed once; its cost joins one_time).

        Scores are those the backend reports: for labels it did not follow past their first
        differing token, that token's log-prob; the decision is argmax(score - prior).
        """
        if self._prior is None:
            fields = template_fields(self.task.input, self.task.source, "input")
            runs = []
            for filler in CONTENT_FREE:
                out = self.model.complete(self.messages({f: filler for f in fields}), choices=self.task.labels)
                self.one_time = self.one_time + out.usage
                runs.append(out.choice_logprobs or {})
            self._prior = {c: sum(r.get(c, 0.0) for r in runs) / len(runs) for c in self.task.labels or []}
        return self._prior

    def describe(self) -> dict[str, Any]:
        return {"rung": self.rung, "model": self.model.name, **self.config}


@dataclass(frozen=True)
class RungSpec:
    """What the climb needs to know about a rung, so it never asks for a rung by name.

    `compile(task, model, options) -> Program` builds the program; `options` is a dataclass (or a
    zero-argument function returning one, for rungs whose options come from a heavy module) whose
    fields are the options the rung accepts: any other name is refused before anything runs.
    """

    name: str
    compile: Callable[..., Program]
    cost_rank: int  # climbing order: lower is cheaper and is tried first
    options: Any = None  # dataclass type, or a callable returning one; None: no options
    needs_corpus: bool = False  # needs the task's `corpus` (retrieval, pretraining)
    needs_local_weights: bool = False  # needs weights on this machine (training)
    trains: bool = False  # spends one-time training compute (gets the climb's training budget)
    summary: str = ""

    def option_fields(self) -> dict[str, Any]:
        cls = self.options
        if cls is None:
            return {}
        if not dataclasses.is_dataclass(cls):
            cls = cls()
        return {f.name: f.type for f in dataclasses.fields(cls)}

    def check_options(self, options: dict[str, Any] | None) -> dict[str, Any]:
        """The options, checked: unknown names and values of the wrong type are a LadderError.

        >>> from ladder.rungs.zero_shot import RUNG
        >>> RUNG.check_options({"calibrate": True})
        {'calibrate': True}
        >>> RUNG.check_options({"k": 3})
        Traceback (most recent call last):
        ...
        ladder.errors.LadderError: rung 'zero-shot' has no option 'k'; its options are: calibrate
        """
        known = self.option_fields()
        out = {}
        for name, value in (options or {}).items():
            key = name.replace("-", "_")
            if key not in known:
                names = ", ".join(sorted(known)) or "none"
                raise LadderError(f"rung '{self.name}' has no option '{name}'; its options are: {names}")
            out[key] = _checked(self.name, key, value, known[key])
            if key in POSITIVE and isinstance(out[key], (int, float)) and not isinstance(out[key], bool) \
                    and not out[key] > 0:
                raise LadderError(f"rung '{self.name}': option '{name}' must be above 0, got {value!r}")
        return out

    def build(self, task: Task, model: Model, options: dict[str, Any] | None = None) -> Program:
        return self.compile(task, model, self.check_options(options))

    def why_not(self, task: Task, local_weights: bool) -> str | None:
        """Why this rung cannot run on the task with a model, or None when it can."""
        if self.needs_corpus and not task.corpus:
            return "the task names no corpus"
        if self.needs_local_weights and not local_weights:
            return "training needs local weights (a bundled model or a .gguf); see `ladder distill` for API models"
        return None


_TYPES: dict[str, tuple[type, ...]] = {"int": (int,), "float": (int, float), "bool": (bool,), "str": (str,),
                                       "None": (type(None),)}


# options that count or budget something: any rung's option of one of these names must be above 0
POSITIVE = {"k", "candidates", "max_words", "max_examples", "max_minutes", "epochs", "depth", "passages", "batch_size"}


def _checked(rung: str, name: str, value: Any, annotation: Any) -> Any:
    """`value` if it fits the field's annotation (simple types only; others are trusted)."""
    parts = [p.strip() for p in str(annotation).split("|")]
    if not all(p in _TYPES for p in parts):
        return value
    allowed = tuple(t for p in parts for t in _TYPES[p])
    ok = isinstance(value, allowed) and not (isinstance(value, bool) and bool not in allowed)
    if not ok:
        raise LadderError(f"rung '{rung}': option '{name}' must be {' or '.join(parts)}, not {value!r}")
    return float(value) if parts[0] == "float" and isinstance(value, int) else value

"""The one model contract: chat messages in, a Completion (text + usage) out.

A backend subclasses `Model` and implements `complete()`. What else it can do is
declared as class attributes, so callers ask instead of guessing:

- `scores_choices`: given `choices=[...]`, the backend picks among them by
  scoring each candidate's tokens (no grammar, no free text) and reports the
  log-probabilities in `Completion.choice_logprobs`.
- `local`: runs in this process (priced per CPU-hour) rather than over HTTP
  (priced per token, and worth keeping several requests in flight).
- `streams`: free-text calls accept `on_text=`, a function the backend calls
  with each new piece of the answer as it is generated (the pieces join to the
  answer before `complete()` strips it). Callers pass `on_text` only to a
  backend that declares it, so a plugin backend never has to take it.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

from ladder.errors import LadderError

Message = dict[str, str]  # {"role": "system"|"user"|"assistant", "content": "..."}


@dataclass
class Usage:
    """What a call, an example or a whole run cost.

    >>> Usage(10, 2, 0.5, 0.9) + Usage(5, 1, 0.25, 0.1)
    Usage(tokens_in=15, tokens_out=3, seconds=0.75, cpu_seconds=1.0)
    """

    tokens_in: int = 0
    tokens_out: int = 0
    seconds: float = 0.0
    cpu_seconds: float = 0.0

    def __add__(self, other: "Usage") -> "Usage":
        return Usage(
            self.tokens_in + other.tokens_in,
            self.tokens_out + other.tokens_out,
            self.seconds + other.seconds,
            self.cpu_seconds + other.cpu_seconds,
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Usage":
        return cls(**{k: d.get(k, 0) for k in ("tokens_in", "tokens_out", "seconds", "cpu_seconds")})


@dataclass
class Completion:
    text: str
    usage: Usage = field(default_factory=Usage)
    # log-probability of each candidate when called with choices= (scores_choices backends)
    choice_logprobs: dict[str, float] | None = None
    cached: bool = False  # served from the run store, not computed now

    def to_dict(self) -> dict[str, Any]:
        return {"text": self.text, "usage": self.usage.to_dict(), "choice_logprobs": self.choice_logprobs}

    @classmethod
    def from_dict(cls, d: dict[str, Any], cached: bool = False) -> "Completion":
        return cls(d["text"], Usage.from_dict(d["usage"]), d.get("choice_logprobs"), cached)


class ModelError(LadderError):
    """A model could not be found, loaded or reached. The message says what to do."""


class PromptTooLong(ModelError):
    """One input does not fit the model's context; the evaluator records it and goes on."""


class Model:
    """Base class of every backend. Subclasses implement `complete()`."""

    name: str = "model"
    scores_choices: bool = False
    local: bool = True
    streams: bool = False
    # Rough size used to order models in a climb (small first). 0 = unknown.
    params: int = 0

    @property
    def fingerprint(self) -> str:
        """Identity of the weights (a file hash, or name@url for servers); part of every cache key."""
        return self.name

    def complete(
        self,
        messages: list[Message],
        *,
        max_tokens: int = 256,
        temperature: float = 0.0,
        stop: list[str] | None = None,
        choices: list[str] | None = None,
        on_text: Callable[[str], None] | None = None,  # only when `streams`; see the module docstring
    ) -> Completion:
        raise NotImplementedError

    def close(self) -> None:  # release weights / connections
        pass


class Timer:
    """Wall and process-CPU seconds of a block: `with Timer() as t: ...; t.usage(...)`."""

    def __enter__(self) -> "Timer":
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self.wall
        self.cpu = time.process_time() - self.cpu

    def usage(self, tokens_in: int, tokens_out: int) -> Usage:
        return Usage(tokens_in, tokens_out, self.wall, self.cpu)


def pick_choice(text: str, choices: list[str]) -> str | None:
    """Map free text onto a label set: exact (case-insensitive), then the first label mentioned.

    >>> pick_choice(" Positive.", ["negative", "positive"])
    'positive'
    >>> pick_choice("I think it is about History", ["Arts", "History"])
    'History'
    >>> pick_choice("no idea", ["a1", "b2"]) is None
    True
    """
    t = text.strip().strip(".!\"'`*").strip().lower()
    by_lower = {c.lower(): c for c in choices}
    if t in by_lower:
        return by_lower[t]
    hits = [(t.find(c.lower()), -len(c), c) for c in choices if c.lower() in t]
    return min(hits)[2] if hits else None


class WrappedModel(Model):
    """A model around another one (a cache, a token cap): same name, capabilities and fingerprint;
    subclasses override `complete()` and reach the backend as `self.inner`."""

    def __init__(self, inner: Model):
        self.inner = inner
        self.name, self.scores_choices, self.local, self.params = inner.name, inner.scores_choices, inner.local, inner.params
        self.streams = inner.streams

    @property
    def fingerprint(self) -> str:
        return self.inner.fingerprint

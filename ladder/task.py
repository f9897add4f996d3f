"""A Task: what the user wants done, their examples, and how to score it.

Loaded from TOML (paths relative to the file) with JSONL splits, or built in
Python with `Task(...)`. Every problem with the input raises TaskError naming
the file, line and field, so the CLI can print one line and exit 2.
"""
from __future__ import annotations

import hashlib
import json
import string
import tomllib
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Iterator

from ladder.errors import TaskError

Example = dict[str, Any]

KNOWN_KEYS = {
    "name", "instruction", "input", "output", "labels", "metric", "target", "train", "test", "dev",
    "corpus", "judge", "prices", "id", "requests", "max_tokens",
}


@dataclass
class Task:
    name: str
    instruction: str
    input: str  # str.format template over each example's fields, e.g. "{text}"
    output: str  # the field holding the expected output
    train: list[Example]
    test: list[Example]
    dev: list[Example] = field(default_factory=list)
    labels: list[str] | None = None
    metric: str = "accuracy"
    target: float | None = None
    corpus: str | None = None  # path to a corpus/index for the rag rung
    judge: dict[str, Any] = field(default_factory=dict)  # {model, rubric} for metric = "judge"
    prices: dict[str, Any] = field(default_factory=dict)
    requests: int = 100_000  # request volume over which one-time costs are amortised
    source: str = "<python>"  # where it came from, for messages
    id_field: str | None = None  # optional field identifying an example (for leak checks)
    max_tokens: int | None = None  # free-text answers: new-token budget (default: fitted to the train answers)

    def __post_init__(self) -> None:
        fields = template_fields(self.input, self.source, "input")
        for split_name in ("train", "test", "dev"):
            for i, ex in enumerate(getattr(self, split_name), 1):
                where = f"{self.source}: {split_name} example {i}"
                _check_example(ex, fields, self.output, where)
        if not self.test:
            raise TaskError(f"{self.source}: the test split is empty; add examples to score on")
        if self.labels is not None or self.metric == "macro_f1":
            for split_name in ("train", "test", "dev"):
                for i, ex in enumerate(getattr(self, split_name), 1):
                    if isinstance(ex[self.output], list):
                        raise TaskError(
                            f"{self.source}: {split_name} example {i}: field '{self.output}' is a list of references; "
                            "a label task needs one label per example (drop `labels`, or use a per-example metric)")
        if self.labels == "auto":
            self.labels = sorted({str(ex[self.output]) for ex in self.train})
            if not self.labels:
                raise TaskError(f"{self.source}: labels = \"auto\" needs a non-empty train split")
        if self.labels is not None:
            self.labels = [str(x) for x in self.labels]
            allowed = set(self.labels)
            for split_name in ("train", "test", "dev"):
                for i, ex in enumerate(getattr(self, split_name), 1):
                    if str(ex[self.output]) not in allowed:
                        raise TaskError(
                            f"{self.source}: {split_name} example {i}: field '{self.output}' = "
                            f"{ex[self.output]!r} is not one of the labels {self.labels}"
                        )

    def render(self, example: Example) -> str:
        return self.input.format(**example)

    def expected(self, example: Example) -> Any:
        """What the output is scored against: a string, or a list of acceptable references."""
        return example[self.output]

    @cached_property
    def _source_field(self) -> str | None:
        fields = set(template_fields(self.input, self.source, "input"))
        return fields.pop() if len(fields) == 1 else None

    def source_text(self, example: Example) -> str:
        """What a source-aware metric (SARI) compares against: the input field when the template
        has exactly one (an instruction around it is not part of the sentence), else the rendered input."""
        return str(example[self._source_field]) if self._source_field else self.render(example)

    def scoring(self) -> dict[str, Any]:
        """The keyword arguments `evaluate` needs to score this task's examples."""
        return {"expected": self.expected, "render": self.render, "source": self.source_text}

    @cached_property
    def answer_budget(self) -> int:
        """New tokens a free-text answer may take: `max_tokens`, or 1.5x the longest train answer
        (at ~3 characters a token), between 32 and 512: a rambling model must not set the run time.
        Computed once: every free-text call reads it."""
        if self.max_tokens:
            return self.max_tokens
        longest = max((len(self.answer(ex)) for ex in self.train), default=0)
        return max(32, min(512, int(longest / 3 * 1.5) + 8))

    def answer(self, example: Example) -> str:
        """The text a demo or a training example shows: the output, or its first reference."""
        out = example[self.output]
        return str(out[0] if isinstance(out, list) else out)

    def test_sample(self, limit: int | None = None, seed: int = 0) -> list[Example]:
        """A fixed, seeded sample of the test split (all of it without a limit), in split order."""
        if not limit or limit >= len(self.test):
            return self.test
        import random

        idx = sorted(random.Random(seed).sample(range(len(self.test)), limit))
        return [self.test[i] for i in idx]

    def fingerprint(self) -> str:
        """Hash of everything that changes results: config and all splits."""
        blob = json.dumps(
            [self.instruction, self.input, self.output, self.labels, self.metric, self.judge,
             self.train, self.test, self.dev, self.corpus] + ([self.max_tokens] if self.max_tokens else []),
            sort_keys=True, ensure_ascii=False, default=str,
        )
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


def template_fields(template: str, source: str, key: str) -> list[str]:
    try:
        names = [f for _, f, _, _ in string.Formatter().parse(template) if f]
    except ValueError as e:
        raise TaskError(f"{source}: field '{key}': bad template {template!r}: {e}") from None
    return [n.split(".")[0].split("[")[0] for n in names]


def _check_example(ex: Any, fields: list[str], output: str, where: str) -> None:
    if not isinstance(ex, dict):
        raise TaskError(f"{where}: expected a JSON object, got {type(ex).__name__}")
    for f in fields:
        if f not in ex:
            raise TaskError(f"{where}: missing field '{f}' used by the input template")
    if output not in ex:
        raise TaskError(f"{where}: missing the output field '{output}'")
    if isinstance(ex[output], list) and not (ex[output] and all(isinstance(r, str) for r in ex[output])):
        raise TaskError(f"{where}: field '{output}' must be a string or a non-empty list of reference strings")


def iter_jsonl(path: Path) -> Iterator[tuple[int, Any]]:
    """(line number, parsed value) for each non-blank line; errors name the file and line."""
    with open(path, "rb") as f:
        for n, raw in enumerate(f, 1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                raise TaskError(f"{path}:{n}: not valid UTF-8 (byte {e.start}); re-save the file as UTF-8") from None
            if not line.strip():
                continue
            try:
                yield n, json.loads(line)
            except json.JSONDecodeError as e:
                raise TaskError(f"{path}:{n}: invalid JSON: {e.msg} (column {e.colno})") from None


def read_jsonl(path: Path, split: str = "") -> list[Example]:
    """Read a JSONL file; errors name the file and line."""
    if not path.exists():
        raise TaskError(f"{path}: {split + ' split ' if split else ''}file not found")
    return [row for _, row in iter_jsonl(path)]


def load_task(path: str | Path) -> Task:
    path = Path(path)
    if not path.exists():
        raise TaskError(f"{path}: task file not found")
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise TaskError(f"{path}: not valid UTF-8") from None
    except tomllib.TOMLDecodeError as e:
        raise TaskError(f"{path}: malformed TOML: {e}") from None
    unknown = sorted(set(raw) - KNOWN_KEYS)
    if unknown:
        raise TaskError(f"{path}: unknown field '{unknown[0]}'; known fields: {', '.join(sorted(KNOWN_KEYS))}")
    for key in ("instruction", "output", "train", "test"):
        if key not in raw:
            raise TaskError(f"{path}: missing required field '{key}'")
    for key in ("instruction", "input", "output", "train", "test", "dev", "metric", "name", "corpus"):
        if key in raw and not isinstance(raw[key], str):
            raise TaskError(f"{path}: field '{key}' must be a string")
    labels = raw.get("labels")
    if labels is not None and labels != "auto" and not (
        isinstance(labels, list) and labels and all(isinstance(x, (str, int)) for x in labels)
    ):
        raise TaskError(f"{path}: field 'labels' must be a non-empty list of strings or \"auto\"")
    target = raw.get("target")
    if target is not None and not (isinstance(target, (int, float)) and 0 <= target <= 1):
        raise TaskError(f"{path}: field 'target' must be a number between 0 and 1")
    max_tokens = raw.get("max_tokens")
    if max_tokens is not None and not (isinstance(max_tokens, int) and max_tokens > 0):
        raise TaskError(f"{path}: field 'max_tokens' must be a positive whole number of tokens")
    from ladder.metrics import check_metric_name

    metric = raw.get("metric", "accuracy")
    try:
        check_metric_name(metric)
    except TaskError as e:
        raise TaskError(f"{path}: field 'metric': {e}") from None
    if metric == "judge" and not isinstance(raw.get("judge"), dict):
        raise TaskError(f"{path}: metric = \"judge\" needs a [judge] table with 'model' and 'rubric'")
    base = path.parent
    splits = {s: read_jsonl(base / raw[s], s) for s in ("train", "test", "dev") if s in raw}
    corpus = raw.get("corpus")
    return Task(
        name=raw.get("name", path.stem),
        instruction=raw["instruction"],
        input=raw.get("input", "{text}"),
        output=raw["output"],
        train=splits["train"],
        test=splits["test"],
        dev=splits.get("dev", []),
        labels=labels,
        metric=metric,
        target=target,
        corpus=str(base / corpus) if corpus else None,
        judge=raw.get("judge", {}),
        prices=raw.get("prices", {}),
        requests=int(raw.get("requests", 100_000)),
        source=str(path),
        id_field=raw.get("id"),
        max_tokens=max_tokens,
    )


def check_no_leak(test: list[Example], used: list[Example], what: str, fields: list[str] | None = None) -> None:
    """Raise if any test example appears among examples used for demos, corpora or training.

    Compared on the input fields (the output alone may legitimately repeat).
    """
    def key(ex: Example) -> str:
        picked = {k: ex[k] for k in (fields or sorted(ex))if k in ex}
        return json.dumps(picked, sort_keys=True, ensure_ascii=False, default=str)

    test_keys = {key(ex) for ex in test}
    leaked = [ex for ex in used if key(ex) in test_keys]
    if leaked:
        raise TaskError(f"{len(leaked)} test example(s) found among the {what}; remove them from train")

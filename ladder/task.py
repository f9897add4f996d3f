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

from ladder.errors import InputError, TaskError

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
    # split -> "file:line" of each example (set by load_task), so errors point at the line to fix
    origins: dict[str, list[str]] = field(default_factory=dict, repr=False, compare=False)

    def _where(self, split_name: str, i: int) -> str:
        lines = self.origins.get(split_name) or []
        return f"{lines[i - 1] if i <= len(lines) else self.source}: {split_name} example {i}"

    def __post_init__(self) -> None:
        check_settings(self, self.source)
        fields = template_fields(self.input, self.source, "input")
        for split_name in ("train", "test", "dev"):
            for i, ex in enumerate(getattr(self, split_name), 1):
                _check_example(ex, fields, self.output, self._where(split_name, i))
        if not self.test:
            raise TaskError(f"{self.source}: the test split is empty; add examples to score on")
        if self.labels is not None or self.metric == "macro_f1":
            for split_name in ("train", "test", "dev"):
                for i, ex in enumerate(getattr(self, split_name), 1):
                    if isinstance(ex[self.output], list):
                        raise TaskError(
                            f"{self._where(split_name, i)}: field '{self.output}' is a list of references; "
                            "a label task needs one label per example (drop `labels`, or use a per-example metric)")
        if self.labels == "auto":
            self.labels = sorted({str(ex[self.output]) for ex in self.train})
            if not self.labels:
                raise TaskError(f"{self.source}: labels = \"auto\" needs a non-empty train split")
        if self.labels is not None:
            self.labels = [str(x) for x in self.labels]
            allowed = set(self.labels)
            if len(allowed) != len(self.labels):
                dup = next(x for x in self.labels if self.labels.count(x) > 1)
                raise TaskError(f"{self.source}: field 'labels': '{dup}' is listed twice; list each label once")
            for split_name in ("train", "test", "dev"):
                for i, ex in enumerate(getattr(self, split_name), 1):
                    if str(ex[self.output]) not in allowed:
                        raise TaskError(
                            f"{self._where(split_name, i)}: field '{self.output}' = "
                            f"{ex[self.output]!r} is not one of the labels {self.labels}"
                        )
        check_metric_works(self)

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
        if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 1):
            raise InputError("limit", f"must be a whole number of examples, at least 1, got {limit!r}")
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
    """The example fields a template names. Only plain names are allowed ("{text}"): attribute or index
    access ("{text.__class__}", "{text[0]}"), positions ("{}", "{0}"), conversions and format specs are refused,
    so a template can never reach into Python objects.

    >>> template_fields("Q: {question}\\nA:", "t.toml", "input")
    ['question']
    """
    if not isinstance(template, str):
        raise TaskError(f"{source}: field '{key}' must be a string template like \"{{text}}\"")
    try:
        parts = list(string.Formatter().parse(template))
    except ValueError as e:
        raise TaskError(f"{source}: field '{key}': bad template {template!r}: {e}; "
                        "write a literal brace as {{{{ or }}}}") from None
    names = []
    for _, name, spec, conversion in parts:
        if name is None:
            continue
        if not name.isidentifier() or spec or conversion:
            shown = "{" + name + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "") + "}"
            raise TaskError(f"{source}: field '{key}': {shown} is not a plain field name; templates take only "
                            "{field} (no attributes, indexes, positions, conversions or format specs)")
        names.append(name)
    return names


def _is_count(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v > 0


def _is_amount(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and 0 <= v < float("inf")


def check_prices(prices: Any, source: str) -> None:
    """A [prices] table: cpu_hour / gpu_hour amounts and [models."<name>"] tables of per-million prices."""
    def where(key: str = "") -> str:
        return f"{source}: field 'prices{key}'"

    if not isinstance(prices, dict):
        raise InputError(where(), "must be a table, e.g. [prices] cpu_hour = 0.05")
    for k, v in prices.items():
        if k in ("cpu_hour", "gpu_hour"):
            if not _is_amount(v):
                raise InputError(where(f".{k}"), f"must be a non-negative number (USD per hour), got {v!r}")
        elif k == "models":
            if not isinstance(v, dict):
                raise InputError(where(".models"), 'must be a table of [prices.models."<model>"] tables')
            for name, table in v.items():
                if not isinstance(table, dict) or any(
                        f not in ("input_per_million", "output_per_million") or not _is_amount(x)
                        for f, x in table.items()):
                    raise InputError(where(f".models.{name}"), "must hold input_per_million / output_per_million "
                                     "as non-negative numbers (USD per million tokens)")
        else:
            raise InputError(where(), f"unknown key '{k}'; known: cpu_hour, gpu_hour, models")


def check_settings(task: "Task", source: str) -> None:
    """Types and ranges of a task's settings, whether it came from TOML or from Python."""
    for key in ("name", "instruction", "input", "output"):
        if not isinstance(getattr(task, key), str):
            raise TaskError(f"{source}: field '{key}' must be a string")
    if not task.output:
        raise TaskError(f"{source}: field 'output' must name the field holding the expected output")
    t = task.target
    if t is not None and not (isinstance(t, (int, float)) and not isinstance(t, bool) and 0 <= t <= 1):
        raise TaskError(f"{source}: field 'target' must be a number between 0 and 1, got {t!r}")
    if not _is_count(task.requests):
        raise TaskError(f"{source}: field 'requests' must be a whole number of requests above 0 (the volume "
                        f"one-time costs are spread over), got {task.requests!r}")
    if task.max_tokens is not None and not _is_count(task.max_tokens):
        raise TaskError(f"{source}: field 'max_tokens' must be a positive whole number of tokens")
    check_prices(task.prices, source)
    if not isinstance(task.judge, dict):
        raise TaskError(f"{source}: field 'judge' must be a table with 'model' and 'rubric'")
    if task.id_field is not None and not isinstance(task.id_field, str):
        raise TaskError(f"{source}: field 'id' must be the name of a field")
    labels = task.labels
    if labels is not None and labels != "auto":
        if not (isinstance(labels, list) and labels
                and all(isinstance(x, (str, int)) and not isinstance(x, bool) for x in labels)):
            raise TaskError(f"{source}: field 'labels' must be a non-empty list of strings or \"auto\"")
        if any(not str(x).strip() for x in labels):
            raise TaskError(f"{source}: field 'labels': a label is blank; every label needs some text")
    if not isinstance(task.metric, str):
        raise TaskError(f"{source}: field 'metric' must be a string")


def check_metric_works(task: "Task") -> None:
    """Call a per-example metric once on a real example (its own answer against itself): a metric that
    is not f(prediction, reference) -> number fails here, at load, not in the middle of a run."""
    import math
    import numbers

    from ladder.metrics import SPECIAL, per_example_fn

    if task.metric in SPECIAL:
        return
    f = per_example_fn(task.metric)
    pool = task.train or task.test
    if f is None or not pool:
        return
    ex = pool[0]
    how = "a metric is f(prediction: str, reference) -> number"
    try:
        kw = {"source": task.source_text(ex)} if getattr(f, "needs_source", False) else {}
        value = f(task.answer(ex), task.expected(ex), **kw)
    except Exception as e:  # a user's function: any failure is reported, not raised through
        raise TaskError(f"{task.source}: field 'metric': '{task.metric}' failed on a {'train' if task.train else 'test'} "
                        f"example ({type(e).__name__}: {e}); {how}") from None
    if not isinstance(value, numbers.Real) or not math.isfinite(float(value)):
        raise TaskError(f"{task.source}: field 'metric': '{task.metric}' returned {value!r}, not a finite number; {how}")


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
    try:
        f = open(path, "rb")
    except OSError as e:
        raise TaskError(f"{path}: cannot read ({e.strerror or e}); check the path and its permissions") from None
    with f:
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
            except RecursionError:
                raise TaskError(f"{path}:{n}: JSON nested too deeply to read; flatten the example") from None


def read_jsonl_lines(path: Path, split: str = "") -> tuple[list[Example], list[str]]:
    """The rows of a JSONL file and each one's "file:line" (for error messages)."""
    if not path.is_file():
        what = "is a folder, not a JSONL file" if path.is_dir() else "file not found"
        raise TaskError(f"{path}: {split + ' split ' if split else ''}{what}")
    pairs = list(iter_jsonl(path))
    return [row for _, row in pairs], [f"{path}:{n}" for n, _ in pairs]


def read_jsonl(path: Path, split: str = "") -> list[Example]:
    """Read a JSONL file; errors name the file and line."""
    return read_jsonl_lines(path, split)[0]


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
    from ladder.metrics import check_metric_name

    metric = raw.get("metric", "accuracy")
    try:
        check_metric_name(metric)
    except TaskError as e:
        raise TaskError(f"{path}: field 'metric': {e}") from None
    if metric == "judge" and not isinstance(raw.get("judge"), dict):
        raise TaskError(f"{path}: metric = \"judge\" needs a [judge] table with 'model' and 'rubric'")
    base = path.parent
    from ladder.splits import read_split  # JSONL, chat JSONL, CSV, Parquet, datasets folders, plugins

    read = {s: read_split(base / raw[s], s) for s in ("train", "test", "dev") if s in raw}
    splits = {s: rows for s, (rows, _) in read.items()}
    corpus = raw.get("corpus")
    return Task(
        name=raw.get("name", path.stem),
        instruction=raw["instruction"],
        input=raw.get("input", "{text}"),
        output=raw["output"],
        train=splits["train"],
        test=splits["test"],
        dev=splits.get("dev", []),
        labels=raw.get("labels"),
        metric=metric,
        target=raw.get("target"),
        corpus=str(base / corpus) if corpus else None,
        judge=raw.get("judge", {}),
        prices=raw.get("prices", {}),
        requests=raw.get("requests", 100_000),
        source=str(path),
        id_field=raw.get("id"),
        max_tokens=raw.get("max_tokens"),
        origins={s: lines for s, (_, lines) in read.items()},
    )

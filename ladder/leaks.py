"""Test examples never leak into what a program learns from or reads: one module for every check.

- `check_no_leak(test, used, what)`: no test example among demos, training or distillation data
  (compared on the input fields; the output alone may legitimately repeat).
- `leaked_inputs(texts, inputs)`: which test inputs appear in a corpus (the rag rung refuses such a
  corpus, whatever backend holds it); `docs_holding(texts, inputs)`: which documents hold one (the
  pretrain rung drops them). Both compare 8-word shingles of lowercased words, so punctuation,
  case and line breaks do not hide a copy. Inputs shorter than 8 words: a corpus is refused only
  when a whole passage equals one (a short question may fairly appear in a corpus), while a
  document is dropped when it contains one of 24 characters or more (dropping costs little).
"""
from __future__ import annotations

import hashlib
import json
import re
from collections import defaultdict

from ladder.errors import TaskError
from ladder.task import Example

SHINGLE = 8  # words per shingle: long enough to be specific, short enough for short inputs


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


def _words(text: str) -> list[str]:
    return re.findall(r"\w+", text.lower())


def _shingles(words: list[str]) -> set[int]:
    return {int(hashlib.blake2b(" ".join(words[i:i + SHINGLE]).encode(), digest_size=8).hexdigest(), 16)
            for i in range(max(1, len(words) - SHINGLE + 1))}


def leaked_inputs(passages: list[str], inputs: list[str], threshold: float = 0.9) -> list[int]:
    """Positions of `inputs` found in the corpus: >= `threshold` of their 8-word shingles occur in it
    (inputs shorter than 8 words: equal to a whole passage, after lowercasing and dropping punctuation).

    >>> leaked_inputs(["The cat sat on the mat near the door of the house today."],
    ...               ["the cat sat on the mat near the door of the house", "a dog sat on a mat in a house by the sea"])
    [0]
    """
    corpus: set[int] = set()
    whole: set[str] = set()
    for p in passages:
        w = _words(p)
        whole.add(" ".join(w))
        corpus |= _shingles(w)
    out = []
    for i, text in enumerate(inputs):
        w = _words(text)
        if not w:
            continue
        if len(w) < SHINGLE:
            if " ".join(w) in whole:
                out.append(i)
            continue
        sh = _shingles(w)
        if sum(s in corpus for s in sh) >= threshold * len(sh):
            out.append(i)
    return out


MIN_CONTAINED_CHARS = 24  # a short input this long is looked for inside documents; shorter ones would over-match


def docs_holding(texts: list[str], inputs: list[str], threshold: float = 0.9) -> list[int]:
    """Positions of the `texts` that hold one of the `inputs`: >= `threshold` of its shingles in that
    one text; an input shorter than 8 words, as a run of words inside the text (whole texts only when
    under 24 characters). Dropping a document costs little, so this errs on the side of dropping.

    >>> docs_holding(["A long review of the film that we liked a lot, said the critic.", "other", "more"],
    ...              ["the film that we liked a lot -- said the critic", "Other", "review of the film"])
    [0, 1]
    """
    holders: dict[int, set[int]] = defaultdict(set)
    whole: dict[str, list[int]] = defaultdict(list)
    for d, text in enumerate(texts):
        w = _words(text)
        whole[" ".join(w)].append(d)
        for s in _shingles(w):
            holders[s].add(d)
    out: set[int] = set()
    for text in inputs:
        w = _words(text)
        if not w:
            continue
        if len(w) < SHINGLE:
            phrase = " ".join(w)
            if len(phrase) < MIN_CONTAINED_CHARS:
                out.update(whole.get(phrase, []))
            else:
                out.update(d for joined, ds in whole.items() if f" {phrase} " in f" {joined} " for d in ds)
            continue
        counts: dict[int, int] = defaultdict(int)
        sh = _shingles(w)
        for s in sh:
            for d in holders.get(s, ()):
                counts[d] += 1
        out.update(d for d, c in counts.items() if c >= threshold * len(sh))
    return sorted(out)

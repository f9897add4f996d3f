"""Citations in a generated answer: [n] markers that point at the numbered passages it was given.

    parse_citations("Yes [2].", n=3)           # [2]
    strip_citations("Yes [2].", n=3)           # 'Yes.'
    check_citations(answer, question, hits)    # (answer with checked [n], sentences changed)

Only brackets whose numbers all lie in 1..n are citations: "[0, 1]" or
"[1990]" are left alone.
"""
from __future__ import annotations

import re

from ladder.retrieval.hit import Hit

_NUMBERS = r"\[(\d+(?:\s*,\s*\d+)*)\]"  # "[2]", "[1, 3]"
_CITE = re.compile(r"\s*" + _NUMBERS)
# the end of a sentence: punctuation (and the citations right after it) then whitespace; or a line break
_BOUNDARY = re.compile(r"[.!?]+(?:\s*" + _NUMBERS + r")*(\s+|$)|(\n\s*)")
_ABBREVIATION = re.compile(r"(?:^|[\s.(])(?:[A-Za-z]|e\.g|i\.e|etc|vs|Mr|Mrs|Ms|Dr|St|Jr|Sr|No)$")
_WORD = re.compile(r"[a-z]{2,}|\d+")
_COMMON = frozenset("an the of in on at to for and or but not no is was were are be been being by with as from "
                    "that this these those it its which who whom what when where why how did do does has have had "
                    "there their they he she his her you we our can could would should will may might also".split())


def _numbers(m: re.Match, n: int) -> list[int] | None:
    nums = [int(x) for x in re.findall(r"\d+", m.group(1))]
    return nums if all(1 <= i <= n for i in nums) else None


def parse_citations(text: str, n: int) -> list[int]:
    """Source numbers cited as [n] (also "[1, 3]" and "[1][2]"), in order of first use, within 1..n.

    >>> parse_citations("Yes [2]. Also [1, 2] and [7], x in [0, 1].", 3)
    [2, 1]
    """
    out: list[int] = []
    for m in _CITE.finditer(text):
        out += [i for i in _numbers(m, n) or [] if i not in out]
    return out


def strip_citations(text: str, n: int) -> str:
    """The text without its citations.

    >>> strip_citations("Timur [1, 2] ruled in [1990] [3].", 3)
    'Timur ruled in [1990].'
    """
    return _CITE.sub(lambda m: "" if _numbers(m, n) else m.group(0), text)


def split_sentences(text: str) -> list[str]:
    """[sentence, separator, sentence, ...]: citations after a full stop stay with their sentence,
    abbreviations and initials do not end one, a line break always does.

    >>> split_sentences("Born in the U.S. Army camp. [1] Then Rome [2].\\n- Timur")
    ['Born in the U.S. Army camp. [1]', ' ', 'Then Rome [2].', '\\n', '- Timur']
    """
    parts, start = [], 0
    for m in _BOUNDARY.finditer(text):
        sep = m.group(2) if m.group(2) is not None else m.group(3)
        if "\n" not in sep and _ABBREVIATION.search(text[start:m.start()]):
            continue
        parts += [text[start:m.end() - len(sep)], sep]
        start = m.end()
    return parts + [text[start:]]


def _content_words(text: str) -> set[str]:
    return {w for w in _WORD.findall(text.lower()) if w not in _COMMON}


def _names(text: str) -> set[str]:
    """Capitalised words and numbers: the kind of word one passage holds and another does not."""
    return {w.lower() for w in re.findall(r"\b(?:[A-Z][a-z]+|\d+)\b", text)}


def _cite(sentence: str, n: int) -> str:
    """`sentence` with [n] before its final punctuation (after it when that ends an abbreviation)."""
    if sentence[-1:] in ".!?" and not _ABBREVIATION.search(sentence[:-1]):
        return f"{sentence[:-1].rstrip()} [{n}]{sentence[-1]}"
    return f"{sentence} [{n}]"


def check_citations(text: str, question: str, hits: list[Hit], min_share: float = 0.5) -> tuple[str, int]:
    """Each sentence's citations, checked against the passages by word overlap; returns the text and
    how many sentences had their [n] placed here rather than by the model.

    A sentence's support is the share of its content words (those the question does not already
    hold) found in a passage. An uncited sentence is cited to the passage holding the largest share,
    if at least `min_share` (the first one on ties). A cited sentence is moved there only on firmer
    evidence: two or more content words, or a name or number ("Michelangelo", "1512"), and none of
    the passages it cites holds `min_share` of them. A sentence no passage supports keeps what the
    model wrote.

    >>> hits = [Hit("a", 1, "Babur admired Genghis Khan."), Hit("b", 1, "They revered Timur in 1405.")]
    >>> check_citations("It was Timur, in 1405 [1].\\nNobody knows why.", "Which conqueror did they celebrate?", hits)
    ('It was Timur, in 1405 [2].\\nNobody knows why.', 1)
    """
    n = len(hits)
    q = _content_words(question)
    shown = [_content_words(f"{h.title} {h.text}") for h in hits]
    parts, matched = split_sentences(text.strip()), 0
    for k in range(0, len(parts), 2):
        own = parse_citations(parts[k], n)
        bare = strip_citations(parts[k], n).strip()
        words = _content_words(bare) - q
        if not words or (own and len(words) < 2 and not words <= _names(bare)):
            continue
        shares = [len(words & p) / len(words) for p in shown]
        best = max(range(n), key=lambda i: (shares[i], -i))
        if shares[best] >= min_share and not any(shares[i - 1] >= min_share for i in own):
            parts[k] = _cite(bare, best + 1)
            matched += 1
    return "".join(parts), matched

"""Split documents into passages; each passage keeps its document's id and title.

Chunkers are small pure functions picked by name (`CHUNKERS`):

- `none`: the whole document is one passage (BEIR abstracts, Wikipedia leads).
- `paragraph`: paragraphs (blank-line separated) packed greedily up to
  `max_words`; a paragraph longer than that falls back to sentence windows.
- `sentence`: windows of whole sentences up to `max_words`, the last
  `overlap` sentences of a window repeated at the start of the next.

Worked example: `sentence` with max_words=6, overlap=1 on
"A b c. D e f. G h." gives ["A b c. D e f.", "D e f. G h."].
"""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Callable, Iterable, Iterator, NamedTuple

from ladder.errors import LadderError


class Chunk(NamedTuple):
    doc_id: str
    title: str
    text: str


@dataclass(frozen=True)
class Chunking:
    method: str = "paragraph"  # one of CHUNKERS
    max_words: int = 200  # a passage stays under this many words (MiniLM reads ~256 word pieces)
    overlap: int = 1  # sentences repeated between consecutive sentence windows

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "Chunking":
        return cls(**{k: d[k] for k in ("method", "max_words", "overlap") if k in d})


_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[\"'(\[]?[A-Z0-9])")
_PARAGRAPH = re.compile(r"\n\s*\n")


def split_sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE_END.split(text.strip()) if s.strip()]


def _words(s: str) -> int:
    return len(s.split())


def sentence_windows(text: str, max_words: int, overlap: int) -> list[str]:
    sents = split_sentences(text)
    out: list[str] = []
    i = 0
    while i < len(sents):
        j, n = i, 0
        while j < len(sents) and (j == i or n + _words(sents[j]) <= max_words):
            n += _words(sents[j])
            j += 1
        out.append(" ".join(sents[i:j]))
        if j >= len(sents):
            break
        i = max(i + 1, j - overlap)  # always advance, so a window never repeats
    return out


def chunk_none(text: str, c: Chunking) -> list[str]:
    return [text.strip()] if text.strip() else []


def chunk_sentence(text: str, c: Chunking) -> list[str]:
    return sentence_windows(text, c.max_words, c.overlap)


def chunk_paragraph(text: str, c: Chunking) -> list[str]:
    out: list[str] = []
    buf: list[str] = []
    n = 0
    for para in (p.strip() for p in _PARAGRAPH.split(text)):
        if not para:
            continue
        w = _words(para)
        if w > c.max_words:
            if buf:
                out.append("\n\n".join(buf))
                buf, n = [], 0
            out.extend(sentence_windows(para, c.max_words, c.overlap))
            continue
        if buf and n + w > c.max_words:
            out.append("\n\n".join(buf))
            buf, n = [], 0
        buf.append(para)
        n += w
    if buf:
        out.append("\n\n".join(buf))
    return out


CHUNKERS: dict[str, Callable[[str, Chunking], list[str]]] = {
    "none": chunk_none,
    "paragraph": chunk_paragraph,
    "sentence": chunk_sentence,
}


def check_chunking(c: Chunking) -> Chunking:
    if c.method not in CHUNKERS:
        raise LadderError(f"unknown chunking '{c.method}'; choose one of: {', '.join(CHUNKERS)}")
    if c.max_words < 1 or c.overlap < 0:
        raise LadderError(f"chunking needs max_words >= 1 and overlap >= 0 (got {c.max_words}, {c.overlap})")
    return c


def chunk_docs(docs: Iterable[dict], chunking: Chunking = Chunking()) -> Iterator[Chunk]:
    """Passages of every document, in corpus order. Documents with no text yield nothing."""
    split = CHUNKERS[check_chunking(chunking).method]
    for d in docs:
        for piece in split(d["text"], chunking):
            yield Chunk(str(d["id"]), d.get("title", "") or "", piece)

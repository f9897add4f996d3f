"""The one result contract shared by every retriever and reranker."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Hit:
    doc_id: str
    score: float
    text: str
    title: str = ""


def clip_words(text: str, n: int) -> str:
    """The first `n` words, with " ..." when some were cut.

    >>> clip_words("one two three", 2)
    'one two ...'
    """
    words = text.split()
    return " ".join(words[:n]) + (" ..." if len(words) > n else "")

"""The one result contract shared by every retriever and reranker."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Hit:
    doc_id: str
    score: float
    text: str
    title: str = ""

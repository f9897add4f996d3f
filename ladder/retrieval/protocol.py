"""The one search-index contract the local index and the Milvus index both implement, and the
helpers below both (methods, fusion settings, k checks, per-document collapsing).

Everything that searches (`ladder search`, `ask`, the rag rung, evaluation, rerankers) talks to a
`SearchIndex`; which backend holds the passages is the index folder's business.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Protocol, Sequence, runtime_checkable

from ladder.errors import InputError, LadderError
from ladder.retrieval.fuse import FUSIONS
from ladder.retrieval.hit import Hit

METHODS = ("hybrid", "bm25", "dense")
RERANK_DEPTH = 20  # first-stage candidates a reranker reads, everywhere unless told otherwise


@runtime_checkable
class SearchIndex(Protocol):
    path: Path | None
    manifest: dict

    def __len__(self) -> int: ...

    def search(self, query: str, k: int = 10, method: str = "hybrid", fusion: Any = None,
               per_doc: bool = False) -> list[Hit]: ...

    def search_many(self, queries: Sequence[str], k: int = 10, method: str = "hybrid", fusion: Any = None,
                    per_doc: bool = False) -> list[list[Hit]]: ...

    def texts(self) -> Iterator[str]:
        """Every passage's text, for checks over the whole corpus (test-input leaks)."""
        ...


@dataclass
class Fusion:
    """How `hybrid` combines BM25 and dense.

    Defaults chosen on SciFact *train* qrels (bench/retrieval_scifact.py grid:
    RRF k 5..100 and weighted, bm25 weight 0.1..0.9): min-max weighted fusion,
    equal weights, was best on train (0.730; RRF k=60 0.724).
    """
    method: str = "weighted"  # one of fuse.FUSIONS
    weights: tuple[float, float] = (0.5, 0.5)  # (bm25, dense)
    k: int = 60  # RRF constant (used by rrf only)
    depth: int = 100  # candidates taken from each retriever before fusing

    def to_dict(self) -> dict:
        return {"method": self.method, "weights": list(self.weights), "k": self.k, "depth": self.depth}

    @classmethod
    def from_dict(cls, d: dict) -> "Fusion":
        base = cls()
        f = cls(d.get("method", base.method), tuple(d.get("weights", base.weights)), d.get("k", base.k),
                d.get("depth", base.depth))
        if f.method not in FUSIONS:
            raise LadderError(f"unknown fusion '{f.method}'; choose one of: {', '.join(FUSIONS)}")
        return f


def check_k(k: Any, name: str = "k") -> int:
    """How many results to return: a whole number, at least 1."""
    if not isinstance(k, int) or isinstance(k, bool) or k < 1:
        raise InputError(name, f"must be a whole number of results, at least 1, got {k!r}")
    return k


def check_method(method: str) -> str:
    if method not in METHODS:
        raise LadderError(f"unknown search method '{method}'; choose one of: {', '.join(METHODS)}")
    return method


def collapse_per_doc(hits: list[Hit]) -> list[Hit]:
    seen: set[str] = set()
    out = []
    for h in hits:
        if h.doc_id not in seen:
            seen.add(h.doc_id)
            out.append(h)
    return out

"""The on-disk search index: passages + BM25 + dense vectors, and the retrieval API.

Public API (stable; rerank, `ladder ask`, the rag rung and the `similar`
selector build on exactly these names):

    from ladder.retrieval.index import Index, build_index, open_index, load_corpus, Chunking
    from ladder.retrieval.dense import embed          # embed(texts) -> (n, 384) float32, L2-normalised

    docs = load_corpus("wikipedia")                  # iterator of {"id", "title", "text"}; also a .jsonl,
                                                     # a BEIR folder, a MediaWiki dump (.xml / .xml.bz2)
    idx = build_index(docs, "idx/", chunking=Chunking("paragraph", max_words=200), progress=True)
    idx = Index.load("idx/")                         # LadderError if missing or built by another format version
    hits = idx.search("who painted the sistine chapel", k=10, method="hybrid")  # list[Hit], best first
    hits = idx.search(q, k=10, method="bm25")        # or "dense"; per_doc=True keeps the best passage per document
    lists = idx.search_many(queries, k=100, method="hybrid")  # list[list[Hit]], batched (evaluation)
    idx = open_index(spec)                           # an index folder -> load it; a corpus spec -> build once,
                                                     # cached under $LADDER_HOME/indexes, then load

`Hit(doc_id, score, text, title)`: doc_id is the source document's id (several
passages of one document share it), text is the passage, title its document's
title. Scores are comparable within one list only.

Folder layout (format version `INDEX_VERSION`; plain files, no pickle):

    manifest.json    format, version, backend, chunking, embedder, counts, fusion defaults, corpus
    passages.jsonl   one {"doc_id", "title", "text"} per passage, in index order
    bm25/            bm25s arrays (.npy) + vocabulary (.json) + ladder_bm25.json
    dense.npy        float32 (n_passages, dim), normalised

`build_index(..., backend="milvus", milvus_uri=...)` writes the same manifest
but keeps passages and vectors in Milvus; `Index.load` then returns a
`MilvusIndex` with the same `search`/`search_many`.
"""
from __future__ import annotations

import hashlib
import json
import shutil
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from ladder.errors import LadderError
from ladder.retrieval.bm25 import BM25
from ladder.retrieval.chunk import Chunk, Chunking, check_chunking, chunk_docs
from ladder.retrieval.corpus import corpus_fingerprint, load_corpus
from ladder.retrieval.dense import DEFAULT_EMBEDDER, embed, embedder_fingerprint, top_k
from ladder.retrieval.fuse import FUSIONS, fuse
from ladder.retrieval.hit import Hit
from ladder.home import ladder_home

__all__ = ["Index", "build_index", "open_index", "load_corpus", "Chunking", "Hit", "METHODS", "INDEX_VERSION"]

INDEX_FORMAT = "ladder-index"
INDEX_VERSION = 1
METHODS = ("hybrid", "bm25", "dense")
BACKENDS = ("local", "milvus")


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


def read_manifest(path: str | Path) -> dict:
    d = Path(path)
    m = d / "manifest.json"
    if not m.is_file():
        hint = "build it with 'ladder index <corpus> --out " + str(d) + "'"
        raise LadderError(f"{d}: no search index here (manifest.json missing); {hint}")
    try:
        manifest = json.loads(m.read_text())
    except json.JSONDecodeError as e:
        raise LadderError(f"{m}: unreadable index manifest ({e}); rebuild the index with 'ladder index'") from None
    if manifest.get("format") != INDEX_FORMAT:
        raise LadderError(f"{m}: not a ladder index (format {manifest.get('format')!r}); rebuild it with 'ladder index'")
    if manifest.get("version") != INDEX_VERSION:
        raise LadderError(
            f"{d}: index format version {manifest.get('version')}, this ladder reads version {INDEX_VERSION}; "
            f"rebuild it with 'ladder index <corpus> --out {d}'"
        )
    return manifest


class Index:
    """The embedded index: everything in memory, queries answered in milliseconds."""

    def __init__(self, passages: list[Chunk], bm25: BM25, vectors: np.ndarray, manifest: dict, path: Path | None = None):
        self.passages, self.bm25, self.vectors = passages, bm25, vectors
        self.manifest, self.path = manifest, path
        self.embedder = manifest.get("embedder", DEFAULT_EMBEDDER)
        # an index built with explicit fusion settings keeps them; otherwise today's defaults apply
        self.fusion = Fusion.from_dict(manifest["fusion"]) if manifest.get("fusion") else Fusion()

    def __len__(self) -> int:
        return len(self.passages)

    @classmethod
    def load(cls, path: str | Path):
        path = Path(path)
        manifest = read_manifest(path)
        if manifest.get("backend", "local") == "milvus":
            from ladder.retrieval.milvus import MilvusIndex

            return MilvusIndex.load(path, manifest)
        try:
            with open(path / "passages.jsonl", encoding="utf-8") as f:
                passages = [Chunk(r["doc_id"], r["title"], r["text"]) for r in map(json.loads, f)]
            vectors = np.load(path / "dense.npy", allow_pickle=False)
        except (OSError, ValueError, KeyError) as e:
            raise LadderError(f"{path}: the index is incomplete or damaged ({e}); rebuild it with 'ladder index'") from None
        bm25 = BM25.load(path / "bm25")
        if len(passages) != len(vectors) or len(passages) != bm25.n_docs:
            raise LadderError(f"{path}: passages, vectors and BM25 disagree in size; rebuild it with 'ladder index'")
        return cls(passages, bm25, vectors, manifest, path)

    # -- search -------------------------------------------------------------------------------
    def _hit(self, pos: int, score: float) -> Hit:
        p = self.passages[pos]
        return Hit(p.doc_id, float(score), p.text, p.title)

    def _bm25_rankings(self, queries: Sequence[str], depth: int) -> list[list[tuple[int, float]]]:
        ids, scores = self.bm25.search(queries, depth)
        return [[(i, s) for i, s in zip(ri, rs) if s > 0] for ri, rs in zip(ids.tolist(), scores.tolist())]

    def _dense_rankings(self, queries: Sequence[str], depth: int) -> list[list[tuple[int, float]]]:
        qv = embed(queries, model=self.embedder)
        ids, scores = top_k(self.vectors, qv, depth)
        return [list(zip(ri, rs)) for ri, rs in zip(ids.tolist(), scores.tolist())]

    def search_many(self, queries: Sequence[str], k: int = 10, method: str = "hybrid",
                    fusion: Fusion | None = None, per_doc: bool = False) -> list[list[Hit]]:
        check_method(method)
        if not queries:
            return []
        f = fusion or self.fusion
        # with per_doc, fetch extra passages so k distinct documents survive the collapse
        depth = k * 3 if per_doc and len(self.passages) > self.manifest.get("n_docs", 0) else k
        if method == "bm25":
            rankings = self._bm25_rankings(queries, depth)
        elif method == "dense":
            rankings = self._dense_rankings(queries, depth)
        else:
            d = max(depth, f.depth)
            pairs = zip(self._bm25_rankings(queries, d), self._dense_rankings(queries, d))
            rankings = [fuse(f.method, [b, v], f.weights, k=f.k) for b, v in pairs]
        return [self._top_hits(r, k, per_doc) for r in rankings]

    def _top_hits(self, ranking: list[tuple[int, float]], k: int, per_doc: bool) -> list[Hit]:
        """The first k passages of a ranking as Hits (k distinct documents with per_doc)."""
        if not per_doc:
            return [self._hit(i, s) for i, s in ranking[:k]]
        seen: set[str] = set()
        out = []
        for i, s in ranking:
            doc = self.passages[i].doc_id
            if doc not in seen:
                seen.add(doc)
                out.append(self._hit(i, s))
                if len(out) == k:
                    break
        return out

    def search(self, query: str, k: int = 10, method: str = "hybrid", fusion: Fusion | None = None,
               per_doc: bool = False) -> list[Hit]:
        if not query or not query.strip():
            raise LadderError("empty query; give some words to search for")
        return self.search_many([query], k, method, fusion, per_doc)[0]


# -- building -----------------------------------------------------------------------------------
def _collect(docs: Iterable[dict], chunking: Chunking, progress: bool) -> tuple[list[Chunk], int]:
    doc_ids: set[str] = set()
    passages: list[Chunk] = []
    bar = None
    if progress:
        from rich.console import Console
        from rich.progress import Progress, SpinnerColumn, TextColumn

        bar = Progress(SpinnerColumn(), TextColumn("reading corpus: {task.completed} passages"), transient=True,
                       console=Console(stderr=True))
        task = bar.add_task("read", total=None)
        bar.start()
    try:
        def counted(ds):
            for d in ds:
                doc_ids.add(str(d["id"]))
                yield d
        for c in chunk_docs(counted(docs), chunking):
            passages.append(c)
            if bar and len(passages) % 500 == 0:
                bar.update(task, completed=len(passages))
    finally:
        if bar:
            bar.stop()
    if not passages:
        raise LadderError("the corpus has no documents with text; nothing to index")
    return passages, len(doc_ids)


def _status(what: str, show: bool):
    """A rich spinner while `what` runs (bm25s's own tqdm bars stay off)."""
    import contextlib

    if not show:
        return contextlib.nullcontext()
    from rich.console import Console

    return Console(stderr=True).status(what)


def _swap_in(tmp: Path, out: Path) -> None:
    """Replace `out` with the finished `tmp` folder, so a reader never sees half an index."""
    old = None
    if out.exists():
        old = out.with_name(f".{out.name}.old-{uuid.uuid4().hex[:8]}")
        out.rename(old)
    tmp.rename(out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _check_out_dir(out: Path) -> None:
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not (out / "manifest.json").is_file())):
        raise LadderError(f"{out}: exists and is not a ladder index; choose another --out folder")


def build_index(docs: Iterable[dict], out_dir: str | Path, chunking: Chunking = Chunking(),
                embedder: str = DEFAULT_EMBEDDER, stemmer: str | None = "english", progress: bool = False,
                fusion: Fusion | None = None, backend: str = "local", milvus_uri: str | None = None,
                corpus: str = "") -> "Index":
    """Chunk, embed and index `docs`; write the folder atomically; return the loaded index."""
    if backend not in BACKENDS:
        raise LadderError(f"unknown backend '{backend}'; choose one of: {', '.join(BACKENDS)}")
    check_chunking(chunking)
    out = Path(out_dir)
    _check_out_dir(out)
    passages, n_docs = _collect(docs, chunking, progress)
    texts = [f"{p.title}\n{p.text}" if p.title else p.text for p in passages]
    vectors = embed(texts, model=embedder, progress=progress)
    manifest = {
        "format": INDEX_FORMAT, "version": INDEX_VERSION, "backend": backend,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "corpus": corpus,
        "chunking": chunking.to_dict(), "embedder": embedder, "dim": int(vectors.shape[1]),
        "n_docs": n_docs, "n_passages": len(passages), "stemmer": stemmer,
        "fusion": fusion.to_dict() if fusion else None,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp-{uuid.uuid4().hex[:8]}")
    tmp.mkdir()
    try:
        if backend == "milvus":
            from ladder.retrieval.milvus import write_milvus

            manifest["milvus"] = write_milvus(passages, vectors, tmp, out, milvus_uri, stemmer)
        else:
            with _status("BM25 indexing", progress):
                BM25(stemmer=stemmer).index(texts).save(tmp / "bm25")
            with open(tmp / "passages.jsonl", "w", encoding="utf-8") as f:
                for p in passages:
                    f.write(json.dumps({"doc_id": p.doc_id, "title": p.title, "text": p.text}, ensure_ascii=False) + "\n")
            np.save(tmp / "dense.npy", vectors, allow_pickle=False)
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=1))
        _swap_in(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return Index.load(out)


def open_index(spec: str | Path, chunking: Chunking = Chunking(), embedder: str = DEFAULT_EMBEDDER,
               progress: bool = False, exclude_ids: Iterable[str] = ()) -> "Index":
    """An index folder is loaded; anything else is a corpus spec, built once and cached.

    The cache key covers the corpus (path, size, mtime), chunking, embedder,
    the excluded ids and the format version, so a change rebuilds.
    `exclude_ids` drops documents by id (the rag rung passes test ids so they
    are never indexed as corpus).
    """
    p = Path(spec)
    if p.is_dir() and (p / "manifest.json").is_file():
        return Index.load(p)
    excluded = sorted({str(i) for i in exclude_ids})
    key = json.dumps([corpus_fingerprint(str(spec)), chunking.to_dict(), embedder_fingerprint(embedder), excluded,
                      INDEX_VERSION])
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    out = ladder_home() / "indexes" / f"{Path(str(spec)).stem or 'corpus'}-{digest}"
    if (out / "manifest.json").is_file():
        return Index.load(out)
    skip = set(excluded)
    docs = (d for d in load_corpus(str(spec)) if str(d["id"]) not in skip)
    return build_index(docs, out, chunking=chunking, embedder=embedder, progress=progress, corpus=str(spec))

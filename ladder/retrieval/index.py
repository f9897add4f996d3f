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
import time
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

import numpy as np

from ladder.errors import LadderError
from ladder.retrieval.bm25 import BM25
from ladder.retrieval.chunk import Chunk, Chunking, check_chunking, chunk_docs
from ladder.retrieval.corpus import corpus_fingerprint, load_corpus
from ladder.retrieval.dense import DEFAULT_EMBEDDER, embed, embedder_fingerprint, top_k
from ladder.retrieval.fuse import fuse
from ladder.retrieval.hit import Hit
from ladder.retrieval.protocol import METHODS, Fusion, check_k, check_method
from ladder.home import ladder_home
from ladder.manifest import atomic_dir, file_table, remove_stale_tmp

__all__ = ["Index", "build_index", "open_index", "load_corpus", "Chunking", "Fusion", "Hit", "METHODS", "INDEX_VERSION"]

INDEX_FORMAT = "ladder-index"
INDEX_VERSION = 1
INDEX_KIND = "ladder.index"  # the manifest's kind (ladder.manifest): its `files` table holds each file's SHA-256
BACKENDS = ("local", "milvus")


def should_verify(verify: bool | None) -> bool:
    """Check an index's file hashes at load: `verify` if given, else yes unless $LADDER_NO_VERIFY=1
    (what the CLI's --no-verify sets, so every index a command opens is covered)."""
    import os

    return verify if verify is not None else os.environ.get("LADDER_NO_VERIFY", "") not in ("1", "true", "yes")


def _read_passages(path: Path) -> list[Chunk]:
    """passages.jsonl; a bad line is a LadderError naming file and line."""
    fix = "rebuild the index with 'ladder index'"
    out = []
    try:
        with open(path / "passages.jsonl", "rb") as f:
            for n, line in enumerate(f, 1):
                try:
                    r = json.loads(line)
                    chunk = Chunk(r["doc_id"], r["title"], r["text"])
                except (ValueError, KeyError, TypeError, IndexError, RecursionError) as e:
                    raise LadderError(f"{path / 'passages.jsonl'}:{n}: damaged passage ({type(e).__name__}); {fix}") from None
                if not all(isinstance(x, str) for x in (chunk.doc_id, chunk.title, chunk.text)):
                    raise LadderError(f"{path / 'passages.jsonl'}:{n}: damaged passage (a field is not text); {fix}")
                out.append(chunk)
    except OSError as e:
        raise LadderError(f"{path}: the index is incomplete ({e.strerror or e}); {fix}") from None
    return out


def _read_vectors(path: Path, manifest: dict) -> np.ndarray:
    """dense.npy: float32 (n_passages, dim); anything else is a LadderError naming the file."""
    fix = "rebuild the index with 'ladder index'"
    try:
        vectors = np.load(path / "dense.npy", allow_pickle=False)
    except Exception as e:  # numpy reading a damaged header raises OSError, ValueError, SyntaxError, TokenError...
        raise LadderError(f"{path / 'dense.npy'}: missing or damaged ({type(e).__name__}: {e}); {fix}") from None
    if vectors.ndim != 2 or vectors.dtype != np.float32 or vectors.shape[1] != manifest.get("dim", vectors.shape[1]):
        raise LadderError(f"{path / 'dense.npy'}: holds {vectors.dtype} {vectors.shape}, not the index's "
                          f"float32 (n, {manifest.get('dim')}) vectors; {fix}")
    return vectors


def read_manifest(path: str | Path) -> dict:
    d = Path(path)
    m = d / "manifest.json"
    if not m.is_file():
        hint = "build it with 'ladder index <corpus> --out " + str(d) + "'"
        raise LadderError(f"{d}: no search index here (manifest.json missing); {hint}")
    try:
        manifest = json.loads(m.read_bytes())
    except (ValueError, RecursionError) as e:  # not UTF-8, not JSON
        raise LadderError(f"{m}: unreadable index manifest ({type(e).__name__}); rebuild the index with 'ladder index'") from None
    if not isinstance(manifest, dict):
        raise LadderError(f"{m}: not a ladder index manifest (a JSON object); rebuild it with 'ladder index'")
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

    def __init__(self, passages: list[Chunk], bm25: BM25, vectors: np.ndarray, manifest: dict, path: Path | None = None,
                 embedder: Any = None):
        self.passages, self.bm25, self.vectors = passages, bm25, vectors
        self.manifest, self.path = manifest, path
        # the embedder object the index was built or loaded with, else the name in the manifest
        self.embedder = embedder if embedder is not None and not isinstance(embedder, str) \
            else manifest.get("embedder", DEFAULT_EMBEDDER)
        # an index built with explicit fusion settings keeps them; otherwise today's defaults apply
        self.fusion = Fusion.from_dict(manifest["fusion"]) if manifest.get("fusion") else Fusion()

    def __len__(self) -> int:
        return len(self.passages)

    @classmethod
    def load(cls, path: str | Path, embedder: Any = None, verify: bool | None = None):
        """The index in `path`; `embedder` is the object to embed queries with when it was built with one."""
        path = Path(path)
        manifest = read_manifest(path)
        if manifest.get("backend", "local") == "milvus":
            from ladder.retrieval.milvus import MilvusIndex

            return MilvusIndex.load(path, manifest)
        if should_verify(verify) and "files" in manifest:  # every file's SHA-256, once per load
            from ladder.manifest import verify_manifest

            verify_manifest(path, INDEX_KIND)
        passages, vectors = _read_passages(path), _read_vectors(path, manifest)
        bm25 = BM25.load(path / "bm25")
        if len(passages) != len(vectors) or len(passages) != bm25.n_docs:
            raise LadderError(f"{path}: passages, vectors and BM25 disagree in size; rebuild it with 'ladder index'")
        return cls(passages, bm25, vectors, manifest, path, embedder=embedder)

    def texts(self) -> Iterator[str]:
        """Every passage's text (the SearchIndex contract)."""
        return (p.text for p in self.passages)

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
        check_k(k)
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


def _check_out_dir(out: Path) -> None:
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not (out / "manifest.json").is_file())):
        raise LadderError(f"{out}: exists and is not a ladder index; choose another --out folder")


def build_index(docs: Iterable[dict], out_dir: str | Path, chunking: Chunking = Chunking(),
                embedder: Any = DEFAULT_EMBEDDER, stemmer: str | None = "english", progress: bool = False,
                fusion: Fusion | None = None, backend: str = "local", milvus_uri: str | None = None,
                corpus: str = "") -> "Index":
    """Chunk, embed and index `docs`; write the folder atomically; return the loaded index."""
    if backend not in BACKENDS:
        raise LadderError(f"unknown backend '{backend}'; choose one of: {', '.join(BACKENDS)}")
    check_chunking(chunking)
    out = Path(out_dir)
    _check_out_dir(out)
    remove_stale_tmp(out)  # folders a killed build left behind
    passages, n_docs = _collect(docs, chunking, progress)
    texts = [f"{p.title}\n{p.text}" if p.title else p.text for p in passages]
    vectors = embed(texts, model=embedder, progress=progress)
    manifest = {
        "format": INDEX_FORMAT, "version": INDEX_VERSION, "backend": backend,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "corpus": corpus,
        "chunking": chunking.to_dict(), "dim": int(vectors.shape[1]),
        "embedder": embedder_name(embedder),
        "n_docs": n_docs, "n_passages": len(passages), "stemmer": stemmer,
        "fusion": fusion.to_dict() if fusion else None,
    }
    with atomic_dir(out) as tmp:  # a reader sees the old index or the new one; a killed build leaves a .tmp-*
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
        write_index_manifest(tmp, manifest)
    return Index.load(out, embedder=embedder, verify=False)


def write_index_manifest(folder: Path, manifest: dict) -> None:
    """Write `manifest.json` last; a local index's manifest lists the SHA-256 and size of every other file
    (ladder.manifest's table), which `Index.load` checks. Call it again after changing any file."""
    if manifest.get("backend", "local") == "local":
        manifest.update(kind=INDEX_KIND, files=file_table(Path(folder)))
    (Path(folder) / "manifest.json").write_text(json.dumps(manifest, indent=1))


def embedder_name(embedder: Any) -> Any:
    """What the manifest records: a bundled name or folder as given, or an embedder object's fingerprint."""
    return embedder if isinstance(embedder, str) else embedder_fingerprint(embedder)


def home_indexes() -> Path:
    """Where `ladder index CORPUS` puts an index without --out: $LADDER_HOME/indexes/<name>."""
    return ladder_home() / "indexes"


def named_index(spec: str) -> Path | None:
    """The folder of an index built under its name (`ladder index wikipedia` -> 'wikipedia'), if any."""
    if "/" in spec or "\\" in spec or not spec:
        return None
    folder = home_indexes() / spec
    return folder if (folder / "manifest.json").is_file() else None


def resolve_index(spec: str | Path) -> Path:
    """The folder of an existing index: a path, or the name of one built with the default --out."""
    p = Path(spec)
    if p.exists():
        return p
    named = named_index(str(spec))
    if named is not None:
        return named
    if "/" not in str(spec) and "\\" not in str(spec):
        corpus = spec if spec == "wikipedia" else "<corpus>"
        raise LadderError(f"no index named '{spec}' (looked in ./{spec} and {home_indexes() / str(spec)}); build it "
                          f"with 'ladder index {corpus}'" + ("" if spec == "wikipedia" else f" --out {spec}"))
    return p


def open_index(spec: str | Path, chunking: Chunking = Chunking(), embedder: Any = DEFAULT_EMBEDDER,
               progress: bool = False, exclude_ids: Iterable[str] = (), verify: bool | None = None) -> "Index":
    """An index folder is loaded; anything else is a corpus spec, built once and cached.

    The cache key covers the corpus (path, size, mtime), chunking, embedder,
    the excluded ids and the format version, so a change rebuilds.
    `exclude_ids` drops documents by id (the rag rung passes test ids so they
    are never indexed as corpus).
    """
    p = Path(spec)
    if p.is_dir() and (p / "manifest.json").is_file():
        return Index.load(p, embedder=embedder, verify=verify)
    excluded = sorted({str(i) for i in exclude_ids})
    named = named_index(str(spec))
    if named is not None and not excluded:  # `ladder index wikipedia` built it already: do not build it twice
        m = read_manifest(named)
        if m.get("chunking") == chunking.to_dict() and m.get("embedder") == embedder_name(embedder):
            return Index.load(named, embedder=embedder, verify=verify)
    key = json.dumps([corpus_fingerprint(str(spec)), chunking.to_dict(), embedder_fingerprint(embedder), excluded,
                      INDEX_VERSION])
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    out = home_indexes() / f"{Path(str(spec)).stem or 'corpus'}-{digest}"
    if (out / "manifest.json").is_file():
        return Index.load(out, embedder=embedder, verify=verify)
    skip = set(excluded)
    docs = (d for d in load_corpus(str(spec)) if str(d["id"]) not in skip)
    return build_index(docs, out, chunking=chunking, embedder=embedder, progress=progress, corpus=str(spec))

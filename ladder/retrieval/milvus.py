"""Scale-out backend: passages, BM25 and dense vectors in Milvus, same `search` contract as `Index`.

`ladder index corpus.jsonl --out idx/ --backend milvus` writes `idx/manifest.json`
(backend "milvus") and either a milvus-lite database inside the folder
(`idx/milvus.db`, the default) or a collection on a Milvus server
(`--milvus-uri http://host:19530`). `Index.load("idx/")` then returns a
`MilvusIndex`; `search`/`search_many` return the same `Hit` lists.

Keyword search is Milvus's native BM25 (a BM25 function turns `text` into a
sparse vector at insert and query time); hybrid is Milvus's `hybrid_search`
(RRFRanker, or WeightedRanker for weighted fusion). Dense query vectors come
from the same embedder as the local index. Differences from the local index:
Milvus's own analyzer tokenises (a server stems English; milvus-lite only
lowercases and drops stopwords) and its WeightedRanker normalises scores with
arctan rather than min-max, so scores and the odd rank differ.
"""
from __future__ import annotations

import uuid
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from ladder.errors import LadderError
from ladder.retrieval.chunk import Chunk
from ladder.retrieval.dense import DEFAULT_EMBEDDER, embed
from ladder.retrieval.hit import Hit

LITE_FILE = "milvus.db"
FIELDS = ["doc_id", "title", "text"]
MAX_TEXT = 60000  # VARCHAR max_length is 65,535 bytes; longer passages are cut (chunking keeps them far shorter)


def _client(uri: str):
    try:
        from pymilvus import MilvusClient
    except ImportError:
        raise LadderError("the Milvus backend needs pymilvus (and milvus-lite for a local file): pip install 'ladder[retrieval]'") from None
    try:
        return MilvusClient(uri)
    except Exception as e:  # noqa: BLE001 - pymilvus raises many kinds; one clear line for the user
        raise LadderError(f"cannot open Milvus at {uri} ({type(e).__name__}: {e}); check the URI or that milvus-lite is installed") from None


def _release_lite(path: str) -> None:
    try:
        from milvus_lite.server_manager import server_manager_instance
    except ImportError:
        return
    server_manager_instance.release_server(path)


def _stopwords() -> list[str]:
    from bm25s.stopwords import STOPWORDS_EN

    return sorted(STOPWORDS_EN)


def _schema(client, dim: int, stemmer: str | None):
    from pymilvus import DataType, Function, FunctionType

    analyzer: dict = {"tokenizer": "standard",
                      "filter": ["lowercase", {"type": "stop", "stop_words": _stopwords()}]}
    if stemmer:
        analyzer["filter"].append({"type": "stemmer", "language": stemmer})  # a server stems; milvus-lite ignores it
    s = client.create_schema(auto_id=False)
    s.add_field("pos", DataType.INT64, is_primary=True)
    s.add_field("doc_id", DataType.VARCHAR, max_length=1024)
    s.add_field("title", DataType.VARCHAR, max_length=2048)
    s.add_field("text", DataType.VARCHAR, max_length=65535, enable_analyzer=True, analyzer_params=analyzer)
    s.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
    s.add_field("dense", DataType.FLOAT_VECTOR, dim=dim)
    s.add_function(Function(name="bm25", function_type=FunctionType.BM25, input_field_names=["text"],
                            output_field_names=["sparse"]))
    ip = client.prepare_index_params()
    ip.add_index("sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25")
    ip.add_index("dense", index_type="FLAT", metric_type="IP")
    return s, ip


def write_milvus(passages: Sequence[Chunk], vectors: np.ndarray, tmp_dir: Path, final_dir: Path,
                 uri: str | None, stemmer: str | None, batch: int = 1000) -> dict:
    """Insert passages + vectors; return the manifest's "milvus" entry.

    Without `uri`, a milvus-lite database is created inside the (temporary)
    index folder and recorded by a path relative to the folder, so the folder
    can be moved.
    """
    lite = uri is None
    target = str(tmp_dir / LITE_FILE) if lite else uri
    collection = "passages" if lite else f"ladder_{final_dir.name}_{uuid.uuid4().hex[:8]}".replace("-", "_")
    client = _client(target)
    try:
        if client.has_collection(collection):
            client.drop_collection(collection)
        schema, index_params = _schema(client, int(vectors.shape[1]), stemmer)
        client.create_collection(collection, schema=schema, index_params=index_params)
        for start in range(0, len(passages), batch):
            rows = [{"pos": start + i, "doc_id": p.doc_id, "title": p.title[:2000],
                     # BM25 reads title + text, as in the local index
                     "text": (f"{p.title}\n{p.text}" if p.title else p.text)[:MAX_TEXT],
                     "dense": vectors[start + i].tolist()}
                    for i, p in enumerate(passages[start:start + batch])]
            client.insert(collection, rows)
        client.flush(collection)
    finally:
        client.close()
        if lite:
            _release_lite(target)  # the folder is renamed next: the in-process server must let go of it
    return {"uri": LITE_FILE if lite else uri, "lite": lite, "collection": collection}


def _strip_title(title: str, text: str) -> str:
    return text[len(title) + 1:] if title and text.startswith(title + "\n") else text


class MilvusIndex:
    """Same `search`/`search_many` as `Index`, answered by Milvus."""

    def __init__(self, client, collection: str, manifest: dict, path: Path, lite_path: str | None = None):
        from ladder.retrieval.protocol import Fusion

        self.client, self.collection, self.manifest, self.path = client, collection, manifest, path
        self.lite_path = lite_path
        self.embedder = manifest.get("embedder", DEFAULT_EMBEDDER)
        self.fusion = Fusion.from_dict(manifest["fusion"]) if manifest.get("fusion") else Fusion()

    @classmethod
    def load(cls, path: Path, manifest: dict) -> "MilvusIndex":
        m = manifest.get("milvus") or {}
        uri = str(path / m["uri"]) if m.get("lite") else m.get("uri")
        if not uri or not m.get("collection"):
            raise LadderError(f"{path}/manifest.json: Milvus backend without uri/collection; rebuild with 'ladder index --backend milvus'")
        if m.get("lite") and not Path(uri).exists():
            raise LadderError(f"{uri}: the milvus-lite database is missing; rebuild with 'ladder index --backend milvus'")
        client = _client(uri)
        if not client.has_collection(m["collection"]):
            raise LadderError(f"Milvus at {uri} has no collection '{m['collection']}'; rebuild with 'ladder index --backend milvus'")
        client.load_collection(m["collection"])
        return cls(client, m["collection"], manifest, path, uri if m.get("lite") else None)

    def __len__(self) -> int:
        return int(self.manifest.get("n_passages", 0))

    def texts(self) -> Iterator[str]:
        """Every passage's text, read from Milvus in pages of positions (the leak check reads them all)."""
        page = 8192
        for lo in range(0, len(self), page):
            rows = self.client.query(self.collection, filter=f"pos >= {lo} and pos < {lo + page}",
                                     output_fields=["title", "text"])
            for r in sorted(rows, key=lambda r: r.get("pos", 0)):
                yield _strip_title(r["title"], r["text"])

    def close(self) -> None:
        """Disconnect; for milvus-lite also stop the in-process server so the folder can be moved or rebuilt."""
        self.client.close()
        if self.lite_path:
            _release_lite(self.lite_path)

    def _hits(self, rows, bm25: bool = False) -> list[Hit]:
        out = []
        for r in rows:
            e = r.get("entity", r)
            # milvus-lite reports BM25 as a negative distance; BM25 scores are >= 0, higher is better
            score = abs(float(r["distance"])) if bm25 else float(r["distance"])
            out.append(Hit(e["doc_id"], score, _strip_title(e["title"], e["text"]), e["title"]))
        return out

    def search_many(self, queries: Sequence[str], k: int = 10, method: str = "hybrid", fusion=None,
                    per_doc: bool = False) -> list[list[Hit]]:
        from ladder.retrieval.protocol import check_method, collapse_per_doc

        check_method(method)
        if not queries:
            return []
        f = fusion or self.fusion
        depth = k * 3 if per_doc else k
        bm25_params = {"metric_type": "BM25"}
        dense_params = {"metric_type": "IP"}
        if method == "bm25":
            res = self.client.search(self.collection, data=list(queries), anns_field="sparse", limit=depth,
                                     search_params=bm25_params, output_fields=FIELDS)
        else:
            vecs = embed(queries, model=self.embedder).tolist()
            if method == "dense":
                res = self.client.search(self.collection, data=vecs, anns_field="dense", limit=depth,
                                         search_params=dense_params, output_fields=FIELDS)
            else:
                res = self._hybrid(list(queries), vecs, max(depth, f.depth), depth, f)
        out = []
        for rows in res:
            hits = self._hits(rows, bm25=method == "bm25")
            out.append((collapse_per_doc(hits) if per_doc else hits)[:k])
        return out

    def _hybrid(self, queries: list[str], vecs: list, cand: int, limit: int, f):
        from pymilvus import AnnSearchRequest, RRFRanker, WeightedRanker

        ranker = RRFRanker(f.k) if f.method == "rrf" else WeightedRanker(*f.weights)
        out = []
        for q, v in zip(queries, vecs):  # one query per call: hybrid_search pairs requests per query
            reqs = [AnnSearchRequest(data=[q], anns_field="sparse", param={"metric_type": "BM25"}, limit=cand),
                    AnnSearchRequest(data=[v], anns_field="dense", param={"metric_type": "IP"}, limit=cand)]
            out.append(self.client.hybrid_search(self.collection, reqs, ranker, limit=limit, output_fields=FIELDS)[0])
        return out

    def search(self, query: str, k: int = 10, method: str = "hybrid", fusion=None, per_doc: bool = False) -> list[Hit]:
        if not query or not query.strip():
            raise LadderError("empty query; give some words to search for")
        return self.search_many([query], k, method, fusion, per_doc)[0]

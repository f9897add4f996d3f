"""`ladder index | search | eval-retrieval`: thin over ladder.retrieval."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from ladder.cli.common import at_least, no_verify_option
from ladder.errors import LadderError
from ladder.retrieval.protocol import METHODS, RERANK_DEPTH

CHUNKINGS = ("paragraph", "sentence", "none")


def _console(stderr: bool = False) -> Any:
    from rich.console import Console

    return Console(stderr=stderr)


def _show_progress(as_json: bool) -> bool:
    """Progress bars on an interactive stderr only: piped output and --json stay clean."""
    import sys

    return not as_json and sys.stderr.isatty()


def load_reranker_lazily(name: str) -> Any:
    try:
        from ladder.retrieval.rerank import load_reranker
    except ImportError as e:
        raise LadderError(f"re-ranking is not available in this install ({e}); search without --rerank") from None
    return load_reranker(name)


@click.command()
@click.argument("corpus")
@click.option("--out", "out_dir", default=None, help="Index folder. Default: $LADDER_HOME/indexes/<corpus name>.")
@click.option("--chunking", type=click.Choice(CHUNKINGS), default="paragraph", show_default=True,
              help="How documents become passages (each keeps its title).")
@click.option("--max-words", default=200, show_default=True, callback=at_least(1), help="Longest passage, in words.")
@click.option("--overlap", default=1, show_default=True, callback=at_least(0), help="Sentences shared by consecutive sentence windows.")
@click.option("--embedder", default="minilm", show_default=True, help="Bundled name or a sentence-transformers folder.")
@click.option("--stemmer", default="english", show_default=True, help="BM25 stemmer language, or 'none'.")
@click.option("--backend", type=click.Choice(["local", "milvus"]), default="local", show_default=True,
              help="local: the embedded index folder; milvus: Milvus (milvus-lite file in the folder, or --milvus-uri).")
@click.option("--milvus-uri", default=None, help="Milvus server URI (e.g. http://host:19530); default a milvus-lite file.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")
def index(corpus: str, out_dir: str | None, chunking: str, max_words: int, overlap: int, embedder: str,
          stemmer: str, backend: str, milvus_uri: str | None, as_json: bool) -> None:
    """Build a search index (BM25 + dense vectors) from a corpus.

    CORPUS is 'wikipedia' (the bundled 10k Vital Articles), a JSONL file of
    {id, title, text}, a BEIR folder, or a MediaWiki XML dump (.xml/.xml.bz2).

    \b
    Examples:
      ladder index wikipedia
      ladder index corpus.jsonl --out idx/
      ladder index enwiki-pages-articles.xml.bz2 --out wiki-idx/ --chunking sentence --max-words 120
      ladder index corpus.jsonl --out idx/ --backend milvus
    """
    import time

    from ladder.retrieval.index import Chunking, build_index, home_indexes, load_corpus

    name = "wikipedia" if corpus == "wikipedia" else Path(corpus.rstrip("/")).name.split(".")[0]
    out = Path(out_dir) if out_dir else home_indexes() / name
    t = time.perf_counter()
    idx = build_index(load_corpus(corpus), out, chunking=Chunking(chunking, max_words, overlap), embedder=embedder,
                      stemmer=None if stemmer == "none" else stemmer, progress=_show_progress(as_json), backend=backend,
                      milvus_uri=milvus_uri, corpus=corpus)
    info = {"index": str(out), "backend": backend, "documents": idx.manifest["n_docs"],
            "passages": idx.manifest["n_passages"], "seconds": round(time.perf_counter() - t, 1)}
    if as_json:
        click.echo(json.dumps(info, indent=2))
    else:
        click.echo(f"indexed {info['documents']} documents as {info['passages']} passages in {info['seconds']} s -> {out}")
        click.echo(f"next: ladder search {out if out_dir else name} \"your question\"")


@click.command()
@click.argument("index_dir")
@click.argument("query")
@click.option("--method", type=click.Choice(METHODS), default="hybrid", show_default=True)
@click.option("-k", "k", default=10, show_default=True, callback=at_least(1), help="Hits to show.")
@click.option("--rerank", default=None, help="Re-rank the candidates: llm, pointwise:<model>, listwise:<model>, qlm:<model>, cross-encoder:<folder>.")
@click.option("--adapted", is_flag=True, help="Use the embedder and cross-encoder 'ladder adapt' trained for this index.")
@click.option("--rerank-depth", default=RERANK_DEPTH, show_default=True, callback=at_least(1), help="Candidates passed to the reranker.")
@click.option("--per-doc", is_flag=True, help="At most one passage per document.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")
@no_verify_option
def search(index_dir: str, query: str, method: str, k: int, rerank: str | None, rerank_depth: int,
           per_doc: bool, as_json: bool, adapted: bool = False) -> None:
    """Search an index with BM25, dense vectors, or both fused.

    \b
    Examples:
      ladder search wikipedia "who painted the sistine chapel ceiling"
      ladder search idx/ "who painted the sistine chapel ceiling" --method hybrid --rerank llm -k 10
    """
    import time

    from ladder.retrieval.index import Index, resolve_index
    from ladder.retrieval.rerank import retrieve

    idx = Index.load(resolve_index(index_dir))
    reranker = load_reranker_lazily(rerank) if rerank else None
    if adapted:
        from ladder.retrieval.adapt import with_adapted

        idx, reranker = with_adapted(idx, resolve_index(index_dir), reranker)
        rerank = rerank or (reranker.name if reranker else None)
    if method != "bm25":  # load the embedder before the clock starts: the time shown is the search
        from ladder.retrieval.dense import load_embedder

        load_embedder(idx.embedder)
    t = time.perf_counter()
    hits = retrieve(idx, query, k, method, reranker, rerank_depth, per_doc=per_doc)
    ms = (time.perf_counter() - t) * 1000
    rows = [{"rank": i, "doc_id": h.doc_id, "title": h.title, "score": round(h.score, 4), "text": h.text}
            for i, h in enumerate(hits, start=1)]
    if as_json:
        click.echo(json.dumps({"query": query, "method": method, "rerank": rerank, "ms": round(ms, 1), "hits": rows}, indent=2))
        return
    from rich.table import Table

    t_ = Table(title=f"{method}{' + ' + rerank if rerank else ''}: {len(rows)} hits in {ms:.0f} ms")
    for col in ("#", "score", "title", "passage"):
        t_.add_column(col, overflow="fold")
    for r in rows:
        text = r["text"] if len(r["text"]) <= 160 else r["text"][:157] + "..."
        t_.add_row(str(r["rank"]), f"{r['score']:.3f}", r["title"] or r["doc_id"], text)
    _console().print(t_)


@click.command(name="eval-retrieval")
@click.argument("beir_folder", type=click.Path(file_okay=False))
@click.option("--method", "methods", default="bm25,dense,hybrid", show_default=True, help="Comma-separated methods.")
@click.option("--rerank", default=None, help="Reranker to score as well (see 'ladder search --help').")
@click.option("--rerank-depth", default=RERANK_DEPTH, show_default=True, callback=at_least(1), help="Top candidates passed to the reranker.")
@click.option("--split", default="test", show_default=True, help="qrels split to score.")
@click.option("--limit", type=int, default=None, callback=at_least(1), help="Only the first N queries (quick looks; report full runs).")
@click.option("--index", "index_dir", default=None, help="Use this index instead of building one from the folder.")
@click.option("--adapted", is_flag=True, help="Score the embedder and cross-encoder 'ladder adapt' trained for the index.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")
@no_verify_option
def eval_retrieval(beir_folder: str, methods: str, rerank: str | None, rerank_depth: int, split: str,
                   limit: int | None, index_dir: str | None, as_json: bool, adapted: bool = False) -> None:
    """Score retrieval on a BEIR folder: nDCG@10, Recall@100, MRR@10 (95% CI) and latency.

    \b
    Examples:
      ladder eval-retrieval ../shared/data/beir/scifact
      ladder eval-retrieval ../shared/data/beir/scifact --method hybrid --rerank llm --limit 50 --json
    """
    from ladder.retrieval.evaluate import evaluate_retrieval
    from ladder.retrieval.index import Index, resolve_index

    chosen = [m.strip() for m in methods.split(",") if m.strip()]
    idx = Index.load(resolve_index(index_dir)) if index_dir else None
    reranker = load_reranker_lazily(rerank) if rerank else None
    if adapted:
        from ladder.retrieval.adapt import with_adapted
        from ladder.retrieval.chunk import Chunking
        from ladder.retrieval.index import open_index

        idx = idx or open_index(Path(beir_folder), chunking=Chunking("none"), progress=_show_progress(as_json))
        idx, reranker = with_adapted(idx, idx.path, reranker)
        rerank = rerank or (reranker.name + " (adapted)" if reranker else None)
    report = evaluate_retrieval(beir_folder, chosen, split=split, index=idx, reranker=reranker, rerank_name=rerank,
                                rerank_depth=rerank_depth, limit=limit, progress=_show_progress(as_json))
    if as_json:
        click.echo(json.dumps(report, indent=2))
        return
    from rich.table import Table

    t = Table(title=f"{report['dataset']} ({report['split']}, {report['results'][0]['n_queries']} queries, {report['n_docs']} docs)")
    for col in ("method", "rerank", "nDCG@10 [95% CI]", "Recall@100", "MRR@10", "p50 ms", "p95 ms"):
        t.add_column(col)
    for r in report["results"]:
        ci = lambda m: f"{r[m]['mean']:.3f} [{r[m]['low']:.3f}, {r[m]['high']:.3f}]"  # noqa: E731
        t.add_row(r["method"], r["rerank"] or "-", ci("ndcg@10"), ci("recall@100"), ci("mrr@10"),
                  f"{r['latency_ms']['p50']:.1f}", f"{r['latency_ms']['p95']:.1f}")
    _console().print(t)

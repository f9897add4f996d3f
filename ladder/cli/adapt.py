"""`ladder adapt`: thin over ladder.retrieval.adapt (label-free adaptation from synthetic queries)."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from ladder.errors import LadderError


def open_for_adapt(spec: str):
    """(index, its folder): an index folder or name as `search` takes it, else a corpus (a BEIR folder
    is indexed whole-document, as `eval-retrieval` indexes it, so both find the same adapted models)."""
    from ladder.retrieval.adapt import refuse_labels
    from ladder.retrieval.chunk import Chunking
    from ladder.retrieval.index import open_index, resolve_index

    refuse_labels(spec)
    p = Path(spec)
    if not (p / "manifest.json").is_file() and "/" not in spec:
        try:  # a name: the index 'ladder index' built under it, which 'ladder search NAME' reads
            p = resolve_index(spec)
        except LadderError:
            if spec != "wikipedia":
                raise
    beir = p.is_dir() and (p / "corpus.jsonl").is_file()
    index = open_index(p if (p / "manifest.json").is_file() else spec,
                       chunking=Chunking("none") if beir else Chunking(), progress=sys.stderr.isatty())
    if getattr(index, "path", None) is None:
        raise LadderError(f"{spec}: ladder adapt needs a local index folder (built with --backend local)")
    return index, Path(index.path)


@click.command()
@click.argument("index_spec", metavar="INDEX")
@click.option("--queries", "n_queries", default=1000, show_default=True, help="Passages sampled; the LLM writes one question each.")
@click.option("--llm", default="smollm2-135m", show_default=True, help="Question writer: bundled name or .gguf path.")
@click.option("--top-k", default=20, show_default=True, help="Round trip: keep a query when its passage ranks this high.")
@click.option("--no-embedder", is_flag=True, help="Do not train the embedder (and keep the index's vectors).")
@click.option("--no-reranker", is_flag=True, help="Do not train a cross-encoder.")
@click.option("--reranker-minutes", default=0.0, show_default=True, help="Cross-encoder training time budget (0 = none).")
@click.option("--generate-minutes", default=0.0, show_default=True,
              help="Stop writing questions after this long and train on those (0 = none); run again to add more.")
@click.option("--teacher", default="",
              help="Label the pairs with this reranker and distil it into the cross-encoder: qlm:<model>, "
                   "pointwise:<model> (e.g. pointwise:openai/<model> behind vLLM or Ollama).")
@click.option("--teacher-candidates", default=8, show_default=True,
              help="With --teacher: passages labelled per question (its source + first-stage negatives).")
@click.option("--seed", default=0, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the manifest as JSON.")
def adapt(index_spec: str, n_queries: int, llm: str, top_k: int, no_embedder: bool, no_reranker: bool,
          reranker_minutes: float, generate_minutes: float, teacher: str, teacher_candidates: int, seed: int,
          as_json: bool) -> None:
    """Adapt search to INDEX without labels: synthetic questions -> an adapted embedder and cross-encoder.

    INDEX is an index folder or name (as 'ladder search' takes it), or a corpus ('wikipedia', a BEIR
    folder, JSONL). The models land beside the index in <index>.adapted/ with a manifest; use them
    with --adapted. No relevance labels (qrels) are read.

    \b
    Examples:
      ladder adapt wikipedia --queries 1000
      ladder search wikipedia "who painted the sistine chapel ceiling" --adapted
      ladder adapt ../shared/data/beir/scifact --queries 1000
      ladder adapt idx/ --queries 1000 --teacher pointwise:openai/llama-3.1-70b   # distil a large LLM
      ladder eval-retrieval ../shared/data/beir/scifact --method hybrid --adapted
    """
    from ladder.cli.common import console
    from ladder.retrieval.adapt import AdaptConfig, adapt as run_adapt, adapted_dir

    if n_queries < 1 or top_k < 1 or teacher_candidates < 2:
        raise LadderError("--queries and --top-k must be at least 1, --teacher-candidates at least 2")
    if teacher and no_reranker:
        raise LadderError("--teacher labels the cross-encoder's training pairs; drop --no-reranker")
    index, path = open_for_adapt(index_spec)
    cfg = AdaptConfig(n_queries=n_queries, llm=llm, top_k=top_k, embedder=not no_embedder, reranker=not no_reranker,
                      reranker_minutes=reranker_minutes, generate_minutes=generate_minutes, seed=seed,
                      teacher=teacher, teacher_candidates=teacher_candidates)
    err = console(stderr=True)
    last: dict = {}

    def progress(stage: str, done: int, total: int) -> None:
        if done == total or done - last.get(stage, 0) >= max(1, total // 20):
            last[stage] = done
            err.print(f"{stage}: {done}/{total}")

    manifest = run_adapt(index, path, cfg, progress=progress)
    if as_json:
        click.echo(json.dumps(manifest, indent=2))
        return
    q = manifest["queries"]
    click.echo(f"{q['generated']} of {q['sampled']} questions written ({manifest['queries_per_minute']} per minute), {q['kept']} kept "
               f"({q['duplicates']} duplicates, {q['failed_round_trip']} failed the round trip); "
               f"adapted models in {adapted_dir(path)} after {manifest['seconds']['total']} s")
    blend = manifest.get("models", {}).get("reranker", {}).get("blend")
    if blend and blend.get("weight") == 0.0:
        click.echo("the cross-encoder did not help on the held-out synthetic queries: --adapted searches without it")
    click.echo(f"next: ladder search {index_spec} \"your question\" --adapted")

"""`ladder ask`: thin over ladder.answer."""
from __future__ import annotations

import json

import click

from ladder.answer import PROMPTS
from ladder.cli.common import at_least, open_searcher, console, no_verify_option, timeout_option
from ladder.errors import LadderError
from ladder.retrieval.protocol import RERANK_DEPTH


@click.command()
@click.argument("index_spec", metavar="INDEX")
@click.argument("question")
@click.option("--model", "model_spec", default="qwen2.5-coder-0.5b", show_default=True,
              help="Answering model: bundled name, .gguf path, or openai/<model>.")
@click.option("--base-url", default=None, help="OpenAI-compatible base URL (else OPENAI_BASE_URL).")
@click.option("--method", default="hybrid", show_default=True, help="Retrieval: hybrid, bm25, dense.")
@click.option("--rerank", "rerank_spec", default=None,
              help="Reranker: cross-encoder[:<dir>], pointwise:<model>, listwise:<model>, or a folder.")
@click.option("-k", "--k", default=5, show_default=True, callback=at_least(1), help="Passages the answer may cite.")
@click.option("--candidates", default=RERANK_DEPTH, show_default=True, callback=at_least(1), help="Passages retrieved before reranking.")
@click.option("--min-score", type=float, default=None,
              help="Drop reranked passages scoring below this (cross-encoder logit); none left = 'I don't know'.")
@click.option("--prompt", type=click.Choice(PROMPTS), default="example", show_default=True,
              help="Show the model one worked, cited answer first (small models then cite far more often), "
                   "or give the instruction alone (fewer prompt tokens, for large models).")
@click.option("--show-passages", is_flag=True, help="List every passage given to the model, not just the cited ones.")
@click.option("--adapted", is_flag=True, help="Retrieve with the embedder and cross-encoder 'ladder adapt' trained for INDEX.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")
@no_verify_option
@timeout_option
def ask(index_spec: str, question: str, model_spec: str, base_url: str | None, method: str, rerank_spec: str | None,
        k: int, candidates: int, min_score: float | None, prompt: str, show_passages: bool, as_json: bool,
        adapted: bool = False) -> None:
    """Answer QUESTION from INDEX (an index folder, or a corpus such as 'wikipedia'), citing passages as [n].

    \b
    Example:
      ladder index wikipedia --out idx/
      ladder ask idx/ "why did the roman empire split?" --rerank cross-encoder
    """
    from ladder.answer import ask as ask_fn, format_answer
    from ladder.models import load_model
    from ladder.retrieval.index import METHODS

    if method not in METHODS:
        raise LadderError(f"unknown method '{method}'; choose one of: {', '.join(METHODS)}")
    if not question.strip():
        raise LadderError("empty question; ask something")
    if k < 1 or candidates < 1:
        raise LadderError("-k and --candidates must be at least 1")
    index, reranker = open_searcher(index_spec, rerank_spec, adapted, progress=not as_json)
    model = load_model(model_spec, base_url=base_url)
    ans = ask_fn(index, question, model, k=k, method=method, reranker=reranker, candidates=candidates,
                 min_score=min_score, prompt=prompt)
    if as_json:
        click.echo(json.dumps({**ans.to_dict(), "model": model.name, "method": method,
                               "rerank": reranker.name if reranker else None}, indent=2, ensure_ascii=False))
        return
    console().print(format_answer(ans, show_all=show_passages), markup=False, highlight=False)

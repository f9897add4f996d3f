"""/v1/search and /v1/ask over one index (ladder.retrieval.index, ladder.answer).

    POST /v1/search {"query": "...", "k": 5, "method": "hybrid", "rerank": true, "candidates": 20}
      -> {"object": "list", "query", "method", "reranker", "data": [{"n", "doc_id", "title", "score", "text"}]}
    POST /v1/ask {"question": "...", "k": 5, "method": "hybrid", "rerank": true, "candidates": 20}
      -> ladder.answer.Answer.to_dict(): answer with [n] citations, cited, sources, usage; and "reranker"

A server started with `--rerank SPEC` (or `--adapted`) reranks the first `candidates` passages
with that one reranker unless a request says `"rerank": false`; clients choose whether, never
which (a request cannot make the server load a model).
"""
from dataclasses import dataclass
from typing import Any

from ladder.errors import LadderError
from ladder.models.base import ModelError
from ladder.retrieval.protocol import RERANK_DEPTH
from ladder.server.chat import parse_json
from ladder.server.errors import APIError

MAX_K = 50
MAX_QUERY_CHARS = 2000
MAX_CANDIDATES = 100


@dataclass
class SearchArgs:
    text: str
    k: int
    method: str
    reranker: Any  # the server's reranker when this request uses it, else None
    candidates: int


def _count(body: dict[str, Any], key: str, default: int, high: int) -> int:
    value = body.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= high:
        raise APIError(400, f"'{key}' must be a whole number from 1 to {high}", key)
    return value


def search_args(body: dict[str, Any], text_key: str, reranker: Any = None) -> SearchArgs:
    """What a search or ask request asks for, or a 400 naming the field."""
    from ladder.retrieval.index import METHODS

    text = body.get(text_key)
    if not isinstance(text, str) or not text.strip():
        raise APIError(400, f"'{text_key}' must be non-empty text", text_key)
    if len(text) > MAX_QUERY_CHARS:
        raise APIError(400, f"'{text_key}' is over {MAX_QUERY_CHARS} characters", text_key)
    k = _count(body, "k", 5, MAX_K)
    method = body.get("method", "hybrid")
    if method not in METHODS:
        raise APIError(400, f"'method' must be one of: {', '.join(METHODS)}", "method")
    rerank = body.get("rerank", reranker is not None)
    if not isinstance(rerank, bool):
        raise APIError(400, "'rerank' must be true or false", "rerank")
    if rerank and reranker is None:
        raise APIError(400, "this server has no reranker; start it with --rerank SPEC or --adapted", "rerank")
    candidates = _count(body, "candidates", max(RERANK_DEPTH, k), MAX_CANDIDATES)
    return SearchArgs(text, k, method, reranker if rerank else None, max(candidates, k))


def add_search(api: Any, served: Any, runner: Any) -> None:
    from fastapi import Request

    from ladder.retrieval.rerank import retrieve

    def index() -> Any:
        if served.index is None:
            raise APIError(404, "this server has no index; start it with 'ladder serve --index DIR'")
        return served.index

    @api.post("/v1/search")
    async def search(request: Request) -> dict[str, Any]:
        a = search_args(parse_json(await request.body()), "query", served.reranker)
        idx = index()
        try:  # with a reranker, under the model lock: one CPU-heavy call at a time
            hits = await runner.call(lambda: retrieve(idx, a.text, a.k, a.method, a.reranker, a.candidates),
                                     local=a.reranker is not None)
        except ModelError as e:
            raise APIError(502, f"the reranker's model failed: {e}", None, "model_error") from None
        except LadderError as e:
            raise APIError(400, str(e), "query") from None
        data = [{"n": i, "doc_id": h.doc_id, "title": h.title, "score": h.score, "text": h.text}
                for i, h in enumerate(hits, 1)]
        return {"object": "list", "query": a.text, "method": a.method, "reranker": _name(a.reranker), "data": data}

    @api.post("/v1/ask")
    async def ask(request: Request) -> dict[str, Any]:
        from ladder.answer import ask as answer

        a = search_args(parse_json(await request.body()), "question", served.reranker)
        idx = index()
        model = await runner.call(runner.ask_model)  # loads it once, under the model lock

        def run() -> Any:
            try:
                return answer(idx, a.text, model, k=a.k, method=a.method, reranker=a.reranker, candidates=a.candidates)
            except ModelError as e:
                raise APIError(502, f"the model failed: {e}", None, "model_error") from None
            except LadderError as e:
                raise APIError(400, str(e)) from None

        out = await runner.call(run, local=getattr(model, "local", True) or a.reranker is not None)
        return {**out.to_dict(), "reranker": _name(a.reranker)}


def _name(reranker: Any) -> str | None:
    return getattr(reranker, "name", type(reranker).__name__) if reranker is not None else None

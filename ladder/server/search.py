"""/v1/search and /v1/ask over one index (ladder.retrieval.index, ladder.answer).

    POST /v1/search {"query": "...", "k": 5, "method": "hybrid"}
      -> {"object": "list", "query", "method", "data": [{"n", "doc_id", "title", "score", "text"}]}
    POST /v1/ask {"question": "...", "k": 5, "method": "hybrid"}
      -> ladder.answer.Answer.to_dict(): answer with [n] citations, cited, sources, usage
"""

from typing import Any

from ladder.errors import LadderError
from ladder.server.chat import parse_json
from ladder.server.errors import APIError

MAX_K = 50
MAX_QUERY_CHARS = 2000


def search_args(body: dict[str, Any], text_key: str) -> tuple[str, int, str]:
    """(text, k, method) from a request body, or a 400 naming the field."""
    from ladder.retrieval.index import METHODS

    text = body.get(text_key)
    if not isinstance(text, str) or not text.strip():
        raise APIError(400, f"'{text_key}' must be non-empty text", text_key)
    if len(text) > MAX_QUERY_CHARS:
        raise APIError(400, f"'{text_key}' is over {MAX_QUERY_CHARS} characters", text_key)
    k = body.get("k", 5)
    if not isinstance(k, int) or isinstance(k, bool) or not 1 <= k <= MAX_K:
        raise APIError(400, f"'k' must be a whole number from 1 to {MAX_K}", "k")
    method = body.get("method", "hybrid")
    if method not in METHODS:
        raise APIError(400, f"'method' must be one of: {', '.join(METHODS)}", "method")
    return text, k, method


def add_search(api: Any, served: Any, runner: Any) -> None:
    from fastapi import Request

    def index() -> Any:
        if served.index is None:
            raise APIError(404, "this server has no index; start it with 'ladder serve --index DIR'")
        return served.index

    @api.post("/v1/search")
    async def search(request: Request) -> dict[str, Any]:
        query, k, method = search_args(parse_json(await request.body()), "query")
        idx = index()
        try:
            hits = await runner.call(lambda: idx.search(query, k=k, method=method), local=False)
        except LadderError as e:
            raise APIError(400, str(e), "query") from None
        data = [{"n": i, "doc_id": h.doc_id, "title": h.title, "score": h.score, "text": h.text}
                for i, h in enumerate(hits, 1)]
        return {"object": "list", "query": query, "method": method, "data": data}

    @api.post("/v1/ask")
    async def ask(request: Request) -> dict[str, Any]:
        from ladder.answer import ask as answer

        question, k, method = search_args(parse_json(await request.body()), "question")
        idx = index()
        model = await runner.call(runner.ask_model)  # loads it once, under the model lock

        def run() -> Any:
            try:
                return answer(idx, question, model, k=k, method=method)
            except LadderError as e:
                raise APIError(400, str(e)) from None

        return (await runner.call(run, local=getattr(model, "local", True))).to_dict()

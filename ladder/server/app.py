"""The FastAPI app behind `ladder serve`: OpenAI-compatible chat, /predict, search and ask, the dashboard.

    app = create_app(Served(program=load("runs/<id>/best"), name="best"))

One program (optional), one index (optional), one runs folder for the
dashboard. Model calls run in a worker thread; for local models one lock
serializes them (llama.cpp is one context), so the event loop keeps serving
/health, the dashboard and timeouts while a request is being answered.
Bodies are read by `guard.BodyGuard` (size limit, read deadline) before any
handler or lock sees them. Errors have the OpenAI shape (`errors.py`).
"""

import asyncio
import copy
import hmac
import json
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from ladder.errors import LadderError
from ladder.models.base import Completion, Model, ModelError, PromptTooLong, WrappedModel
from ladder.server.chat import TrimmedStream, chunk, completion_body, new_id, parse_chat, parse_json, stream_events
from ladder.server.errors import APIError, error_body

log = logging.getLogger("ladder.server")


@dataclass
class Limits:
    max_body: int = 1 << 20  # bytes per request body
    read_timeout: float = 10.0  # seconds to receive a whole body
    max_tokens: int = 512  # largest max_tokens a request may ask for


@dataclass
class Served:
    """What one server answers for. `program` is a ladder.saved.SavedProgram; `index` an opened index;
    `reranker` (optional) reranks its search and ask results; `ask_model` returns the Model /v1/ask
    generates with (called once, on first use)."""

    program: Any = None
    name: str = "program"
    index: Any = None
    reranker: Any = None
    ask_model: Callable[[], Model] | None = None
    runs_dir: Path | None = None
    api_key: str | None = None
    limits: Limits = field(default_factory=Limits)


class PerRequest(WrappedModel):
    """The program's model for one request: free-text answers capped at `cap` new tokens (the request's
    max_tokens) and, when the backend streams, delivered piece by piece to `on_text`."""

    def __init__(self, inner: Model, cap: int | None, on_text: Callable[[str], None] | None):
        super().__init__(inner)
        self.cap, self.on_text = cap, on_text

    def complete(self, messages: Any, **kw: Any) -> Completion:
        if self.cap and "max_tokens" in kw:
            kw["max_tokens"] = min(kw["max_tokens"], self.cap)
        if self.on_text is not None and self.inner.streams and not kw.get("choices"):
            kw["on_text"] = self.on_text
        return self.inner.complete(messages, **kw)


class ClientGone(Exception):
    """A streaming client disconnected: raised inside the model's stream to stop generating."""


class Runner:
    """Runs blocking model work in a thread; one lock when any model involved is local."""

    def __init__(self, served: Served):
        self.served = served
        self.lock = asyncio.Lock()
        self.worker = ThreadPoolExecutor(1, thread_name_prefix="ladder-model")
        self._ask_model: Model | None = None

    def _is_local(self, model: Model | None) -> bool:
        return model is None or getattr(model, "local", True)

    async def call(self, fn: Callable[[], Any], local: bool = True) -> Any:
        from anyio import to_thread

        if not local:
            return await to_thread.run_sync(fn)
        async with self.lock:  # one local model call at a time, always on the same worker thread
            return await asyncio.get_running_loop().run_in_executor(self.worker, fn)

    async def answer(self, fields: dict[str, Any], max_tokens: int | None,
                     on_text: Callable[[str], None] | None = None) -> Completion:
        """The program's answer; `on_text` receives a free-text answer as it is generated (never a label,
        which the program picks or maps after the model answers)."""
        example = self.example(fields)
        base = program = self.served.program.program
        on_text = None if base.task.labels else on_text
        if max_tokens or on_text:  # a per-request copy, so concurrent requests never see each other's settings
            program = copy.copy(base)
            program.model = PerRequest(base.model, max_tokens, on_text)
        out = await self.call(lambda: _run_model(program, example), self._is_local(base.model))
        if base._prior is None and program._prior is not None:  # a label prior measured on the copy is kept
            base._prior = program._prior
        return out

    def example(self, fields: Any) -> dict[str, Any]:
        """The program's input from request fields, or a 400 naming the problem."""
        if self.served.program is None:
            raise APIError(404, "this server has no program; start it with 'ladder serve PROGRAM_DIR'")
        try:
            return self.served.program.check_fields(fields)
        except LadderError as e:
            raise APIError(400, str(e), "fields", "invalid_fields") from None

    def ask_model(self) -> Model:
        if self._ask_model is None:
            if self.served.ask_model is None:
                raise APIError(404, "this server has no model to answer with; start it with --ask-model MODEL")
            self._ask_model = self.served.ask_model()
        return self._ask_model


def _run_model(fn: Callable[[Any], Completion], arg: Any) -> Completion:
    """A model call with its errors turned into API errors (never a dropped connection)."""
    try:
        return fn(arg)
    except PromptTooLong as e:
        raise APIError(400, str(e), "messages", "context_length_exceeded") from None
    except ModelError as e:
        raise APIError(502, f"the model failed: {e}", None, "model_error") from None
    except LadderError as e:
        raise APIError(400, str(e)) from None


def create_app(served: Served) -> Any:
    from fastapi import APIRouter, Depends, FastAPI

    from ladder.server.dashboard import add_dashboard
    from ladder.server.guard import BodyGuard
    from ladder.server.search import add_search

    app = FastAPI(title="ladder", docs_url=None, redoc_url=None, openapi_url=None)
    runner = Runner(served)
    app.state.runner = runner
    _add_error_handlers(app)
    api = APIRouter(dependencies=[Depends(_authorizer(served))])
    _add_program_routes(app, api, served, runner)
    add_search(api, served, runner)
    add_dashboard(app, api, served)
    app.include_router(api)
    app.add_middleware(BodyGuard, max_bytes=served.limits.max_body, read_timeout=served.limits.read_timeout)
    return app


def _add_error_handlers(app: Any) -> None:
    """Every error answers in OpenAI's shape, {"error": {message, type, param, code}}."""
    from fastapi import Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse
    from starlette.exceptions import HTTPException

    @app.exception_handler(APIError)
    async def api_error(request: Request, e: APIError) -> JSONResponse:
        return JSONResponse(e.body(), e.status)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, e: HTTPException) -> JSONResponse:
        msg = f"no route {request.method} {request.url.path}" if e.status_code == 404 else str(e.detail)
        return JSONResponse(error_body(e.status_code, msg), e.status_code)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, e: RequestValidationError) -> JSONResponse:
        return JSONResponse(error_body(400, f"invalid request: {e.errors()[:1]}"), 400)

    @app.exception_handler(Exception)
    async def crash(request: Request, e: Exception) -> JSONResponse:
        log.exception("unhandled error on %s", request.url.path)
        return JSONResponse(error_body(500, f"internal error ({type(e).__name__}: {e}); see the server log"), 500)


def _authorizer(served: Served) -> Any:
    """The dependency that checks the Bearer API key (when the server has one)."""
    from fastapi import Request

    async def authorize(request: Request) -> None:
        key = served.api_key
        if not key:
            return
        given = request.headers.get("authorization", "")
        scheme, _, token = given.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), key.encode()):
            raise APIError(401, "missing or wrong API key; send 'Authorization: Bearer <key>'", None, "invalid_api_key")

    return authorize


def _add_program_routes(app: Any, api: Any, served: Served, runner: Runner) -> None:
    """/health (open), and behind the key /v1/models, /v1/chat/completions and /predict."""
    from fastapi import Request

    @app.get("/health")
    async def health() -> dict[str, Any]:
        out: dict[str, Any] = {"status": "ok", "model_name": served.name}
        if served.program is not None:  # open to anyone: no file paths
            out.update({k: v for k, v in served.program.describe().items() if k not in ("path", "corpus", "adapter")})
        if served.index is not None:
            out["index"] = {"passages": len(served.index)}
        return out

    @api.get("/v1/models")
    async def models() -> dict[str, Any]:
        data = [{"id": served.name, "object": "model", "created": int(time.time()), "owned_by": "ladder"}]
        return {"object": "list", "data": data if served.program is not None else []}

    @api.post("/v1/chat/completions")
    async def chat(request: Request) -> Any:
        if served.program is None:
            raise APIError(404, "this server has no program; start it with 'ladder serve PROGRAM_DIR'")
        req = parse_chat(parse_json(await request.body()), served.program.input_fields, served.limits.max_tokens)
        if req.model != served.name:
            raise APIError(404, f"model '{req.model}' is not served here; use '{served.name}' (GET /v1/models)",
                           "model", "model_not_found")
        runner.example(req.fields)  # a bad request is a 400 before any stream starts
        if not req.stream:
            return completion_body(served.name, await runner.answer(req.fields, req.max_tokens))
        return _stream(runner, served.name, req)

    @api.post("/predict")
    async def predict(request: Request) -> dict[str, Any]:
        body = parse_json(await request.body())
        if "fields" not in body:
            names = ", ".join(served.program.input_fields) if served.program else "..."
            raise APIError(400, f'expected JSON {{"fields": {{{names}}}}}', "fields")
        out = await runner.answer(body["fields"], None)
        return {"output": out.text, "usage": out.usage.to_dict()}


def _stream(runner: Runner, model: str, req: Any) -> Any:
    """SSE in the OpenAI chunk format: the role chunk at once, then the answer as the model writes it.

    The model runs in the worker thread and hands each piece to the event loop; a client that goes
    away stops the generation at its next token (the worker is not kept busy for nobody)."""
    from fastapi.responses import StreamingResponse

    cid = new_id()

    async def events():
        yield chunk(cid, model, {"role": "assistant", "content": ""})
        loop, pieces, gone = asyncio.get_running_loop(), asyncio.Queue(), threading.Event()

        def on_text(piece: str) -> None:
            if gone.is_set():
                raise ClientGone()
            loop.call_soon_threadsafe(pieces.put_nowait, piece)

        def finished(job: asyncio.Future) -> None:
            pieces.put_nowait(None)  # after every piece: they were queued on the loop before the job ended
            if not job.cancelled():
                job.exception()  # retrieved here, so a client that left never leaves a "never retrieved" log

        job = asyncio.ensure_future(runner.answer(req.fields, req.max_tokens, on_text))
        job.add_done_callback(finished)
        trim = TrimmedStream()
        try:
            while (piece := await pieces.get()) is not None:
                if text := trim.push(piece):
                    yield chunk(cid, model, {"content": text})
            out = job.result()
        except APIError as e:
            yield f"data: {json.dumps(e.body())}\n\n"
            yield "data: [DONE]\n\n"
            return
        except Exception as e:  # headers are sent: end the stream with an error event, never a dropped connection
            log.exception("streamed answer failed")
            yield f"data: {json.dumps(error_body(500, f'internal error: {type(e).__name__}: {e}'))}\n\n"
            yield "data: [DONE]\n\n"
            return
        finally:
            gone.set()
            if not job.done():  # the client left: a job still waiting for the model lock never runs
                job.cancel()
        for event in stream_events(cid, model, out, req.include_usage, trim.rest(out.text)):
            yield event

    return StreamingResponse(events(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

"""The OpenAI chat-completions surface over one program: request parsing and response shapes.

Which text the program answers: the content of the last `user` message. For a
task with one input field that content *is* the field (`{"text": content}`).
For a task with several input fields the content must be a JSON object with
each field, e.g. `{"question": "...", "context": "..."}`. Earlier messages,
`system` prompts, `temperature` and `stop` are not used: the program applies
its own saved prompt, demos, retrieval and adapter, greedily, exactly as it was
evaluated. With `stream: true` a free-text answer arrives token by token when
the backend streams (llama.cpp and OpenAI-compatible ones do); a label arrives whole. `max_tokens` (or `max_completion_tokens`) lowers the program's own
answer budget and may not exceed the server's limit; `n` must be 1.
"""
from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from typing import Any, Iterator

from ladder.models.base import Completion
from ladder.server.errors import APIError


@dataclass
class ChatRequest:
    model: str
    fields: dict[str, Any]
    max_tokens: int | None
    stream: bool
    include_usage: bool


def parse_json(raw: bytes) -> dict[str, Any]:
    """The request body as a JSON object, or a 400 saying what is wrong with it."""
    try:
        body = json.loads(raw or b"null")
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise APIError(400, f"the request body is not valid JSON ({e}); send a JSON object") from None
    if not isinstance(body, dict):
        raise APIError(400, f"the request body must be a JSON object, not {type(body).__name__}")
    return body


def _content(message: dict[str, Any]) -> str:
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content parts: keep the text ones
        parts = [p.get("text") for p in content if isinstance(p, dict) and p.get("type") == "text"]
        if all(isinstance(p, str) for p in parts) and parts:
            return "\n".join(parts)
    raise APIError(400, "the last user message's content must be text (a string or text content parts)",
                   "messages", "invalid_content")


def message_fields(content: str, input_fields: list[str]) -> dict[str, Any]:
    """The program's input fields from the last user message (one field: the text itself).

    >>> message_fields("hello", ["text"])
    {'text': 'hello'}
    >>> message_fields('{"q": "why", "ctx": "because"}', ["q", "ctx"])
    {'q': 'why', 'ctx': 'because'}
    """
    if len(input_fields) == 1:
        return {input_fields[0]: content}
    want = ", ".join(f'"{f}": "..."' for f in input_fields)
    try:
        obj = json.loads(content)
    except json.JSONDecodeError:
        obj = None
    if not isinstance(obj, dict):
        raise APIError(400, f"this program reads {len(input_fields)} fields; send the last user message as a JSON "
                            f"object {{{want}}}", "messages", "fields_required")
    return obj


def parse_chat(body: dict[str, Any], input_fields: list[str], max_tokens_limit: int) -> ChatRequest:
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise APIError(400, "'model' is required (see GET /v1/models)", "model")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages or not all(isinstance(m, dict) for m in messages):
        raise APIError(400, "'messages' must be a non-empty list of {role, content} objects", "messages")
    users = [m for m in messages if m.get("role") == "user"]
    if not users:
        raise APIError(400, "'messages' has no user message to answer", "messages")
    n = body.get("n", 1)
    if n not in (1, None):
        raise APIError(400, "only n = 1 is supported", "n")
    max_tokens = body.get("max_completion_tokens", body.get("max_tokens"))
    if max_tokens is not None:
        if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1:
            raise APIError(400, "'max_tokens' must be a positive whole number", "max_tokens")
        if max_tokens > max_tokens_limit:
            raise APIError(400, f"'max_tokens' {max_tokens} is over this server's limit of {max_tokens_limit}",
                           "max_tokens", "max_tokens_too_large")
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise APIError(400, "'stream' must be true or false", "stream")
    opts = body.get("stream_options") or {}
    include_usage = bool(isinstance(opts, dict) and opts.get("include_usage"))
    return ChatRequest(model, message_fields(_content(users[-1]), input_fields), max_tokens, stream, include_usage)


def usage_dict(out: Completion) -> dict[str, int]:
    return {"prompt_tokens": out.usage.tokens_in, "completion_tokens": out.usage.tokens_out,
            "total_tokens": out.usage.tokens_in + out.usage.tokens_out}


def new_id() -> str:
    return "chatcmpl-" + uuid.uuid4().hex[:24]


def completion_body(model: str, out: Completion) -> dict[str, Any]:
    return {"id": new_id(), "object": "chat.completion", "created": int(time.time()), "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": out.text}, "finish_reason": "stop",
                         "logprobs": None}],
            "usage": usage_dict(out)}


def chunk(cid: str, model: str, delta: dict[str, Any], finish: str | None = None,
          usage: dict[str, int] | None = None) -> str:
    body: dict[str, Any] = {"id": cid, "object": "chat.completion.chunk", "created": int(time.time()),
                            "model": model, "choices": [] if usage else [{"index": 0, "delta": delta,
                                                                          "finish_reason": finish, "logprobs": None}]}
    if usage:
        body["usage"] = usage
    return f"data: {json.dumps(body, ensure_ascii=False)}\n\n"


class TrimmedStream:
    """Streams pieces of an answer whose final text is stripped: leading whitespace is dropped and
    trailing whitespace held back until more text follows, so the pieces sent join to the final text.

    >>> t = TrimmedStream()
    >>> [t.push(p) for p in [" ", " The", " answer", " ", "is 42", ". "]]
    ['', 'The', ' answer', '', ' is 42', '.']
    >>> t.rest("The answer is 42.")
    ''
    """

    def __init__(self) -> None:
        self.sent, self.held = "", ""

    def push(self, piece: str) -> str:
        text = self.held + piece
        if not self.sent:
            text = text.lstrip()
        body = text.rstrip()
        self.held = text[len(body):]
        self.sent += body
        return body

    def rest(self, final: str) -> str:
        """What is still to send so the client has `final` (the whole answer when nothing was streamed)."""
        return final[len(self.sent):] if final.startswith(self.sent) else ""


def stream_events(cid: str, model: str, out: Completion, include_usage: bool, rest: str) -> Iterator[str]:
    """The SSE events that end a stream: the answer's `rest` (what was not streamed yet), the finish
    reason, usage if asked, [DONE]."""
    if rest:
        yield chunk(cid, model, {"content": rest})
    yield chunk(cid, model, {}, "stop")
    if include_usage:
        yield chunk(cid, model, {}, usage=usage_dict(out))
    yield "data: [DONE]\n\n"

"""Any OpenAI-compatible server: vLLM, llama.cpp server, Ollama, or a hosted API.

`--model openai/<model>`; base URL and key from arguments, else
OPENAI_BASE_URL / OPENAI_API_KEY. Label sets are answered in free text and
mapped onto the labels by the program (servers differ in how, or whether,
they constrain output). Thread-safe: the evaluator keeps several requests in
flight against it.

Deadlines: every call has a total deadline (`timeout` seconds, else
$LADDER_TIMEOUT, else 60), retries included. Connecting may take at most
`CONNECT_SECONDS` of it, and the answer is read in pieces, each waiting only
for what is left, so a server that accepts and never answers, or trickles
bytes, costs one deadline (a trickle at most about two) and then a
ModelError naming the URL.
An answer that is not the JSON of a chat completion is a ModelError naming
the URL too (`parse_completion`).

Streaming (`on_text=`, see models/base.py): the request asks for `stream: true`
and each content delta of the server's SSE events goes to `on_text` as it
arrives, under the same deadline. A server that answers with plain JSON instead
is read as usual. A call is retried only before its first piece was delivered.
"""
from __future__ import annotations

import json
import os
import re
import time
from typing import Any, Callable

from ladder.errors import InputError
from ladder.models.base import Completion, Message, Model, ModelError, PromptTooLong, Timer

RETRY_STATUS = {429, 500, 502, 503, 504}
# how servers say an input does not fit: OpenAI "context_length_exceeded", vLLM "maximum context length",
# llama.cpp "exceed context window" / "exceeds the available context size"
TOO_LONG = re.compile(r"context.(length|window|size)|maximum context|too long|too many tokens", re.I)
DEFAULT_TIMEOUT = 60.0  # seconds per call, retries included: enough for a local server on a CPU
CONNECT_SECONDS = 10.0
MAX_ANSWER_BYTES = 16 << 20  # a chat completion is kilobytes; more is a misbehaving server


def default_timeout() -> float:
    """$LADDER_TIMEOUT (seconds, > 0), else DEFAULT_TIMEOUT."""
    raw = os.environ.get("LADDER_TIMEOUT")
    if raw is None or raw == "":
        return DEFAULT_TIMEOUT
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value > 0 or value == float("inf"):
        raise InputError("LADDER_TIMEOUT", f"must be a number of seconds above 0, got {raw!r}")
    return value


def parse_completion(status: int, body: bytes, url: str) -> tuple[str, int, int]:
    """(text, prompt tokens, completion tokens) from a server's answer, or a ModelError naming `url`.

    >>> parse_completion(200, b'{"choices": [{"message": {"content": " hi "}}], "usage": {"prompt_tokens": 3}}', "u")
    ('hi', 3, 0)
    """
    def head() -> str:
        return body[:200].decode("utf-8", "replace")

    if status in (400, 413) and TOO_LONG.search(head()):  # one over-long input: refused for that example only
        raise PromptTooLong(f"{url} refused the input as longer than the model's context ({status}: {head()})")
    if status != 200:
        raise ModelError(f"{url} answered {status}: {head()}")
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, ValueError):
        raise ModelError(f"{url} answered 200 with something that is not JSON ({head()!r}); "
                         "is --base-url an OpenAI-compatible API (it usually ends in /v1)?") from None
    choices = data.get("choices") if isinstance(data, dict) else None
    if not (isinstance(choices, list) and choices and isinstance(choices[0], dict)
            and isinstance(choices[0].get("message"), dict)):
        raise ModelError(f"{url} answered 200 without choices[0].message ({head()!r}); "
                         "is --base-url an OpenAI-compatible chat completions API?")
    text = choices[0]["message"].get("content") or ""
    if not isinstance(text, str):
        raise ModelError(f"{url} answered a message whose content is not text ({head()!r})")
    usage = data.get("usage") if isinstance(data.get("usage"), dict) else {}

    def count(key: str) -> int:
        v = usage.get(key, 0)
        return v if isinstance(v, int) and not isinstance(v, bool) and v >= 0 else 0

    return text.strip(), count("prompt_tokens"), count("completion_tokens")


class OpenAIModel(Model):
    scores_choices = False
    local = False
    streams = True

    def __init__(self, model: str, base_url: str | None = None, api_key: str | None = None,
                 timeout: float | None = None, retries: int = 3):
        import httpx

        self.model = model
        self.name = f"openai/{model}"
        self.base_url = (base_url or os.environ.get("OPENAI_BASE_URL") or "https://api.openai.com/v1").rstrip("/")
        if not self.base_url.startswith(("http://", "https://")):
            raise InputError("--base-url", f"must start with http:// or https://, got {self.base_url!r}")
        self.timeout = default_timeout() if timeout is None else float(timeout)
        if not self.timeout > 0:
            raise InputError("--timeout", f"must be above 0 seconds, got {timeout}")
        key = api_key or os.environ.get("OPENAI_API_KEY", "")
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self.client = httpx.Client(base_url=self.base_url, headers=headers)
        self.retries = retries

    @property
    def fingerprint(self) -> str:
        return f"{self.name}@{self.base_url}"

    def _post(self, body: dict[str, Any], deadline: float,
              on_text: Callable[[str], None] | None = None) -> tuple[int, bytes]:
        """One request, read in pieces; each wait is bounded by the time left before `deadline`."""
        import httpx

        def left() -> float:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise httpx.ReadTimeout("deadline passed")
            return remaining

        t = left()
        timeout = httpx.Timeout(t, connect=min(CONNECT_SECONDS, t))
        with self.client.stream("POST", "/chat/completions", json=body, timeout=timeout) as r:
            if on_text is not None and r.status_code == 200 and "event-stream" in r.headers.get("content-type", ""):
                return 200, self._read_events(r.iter_lines(), left, on_text)
            chunks, size = [], 0
            for chunk in r.iter_bytes():
                chunks.append(chunk)
                size += len(chunk)
                if size > MAX_ANSWER_BYTES:
                    raise ModelError(f"{self.base_url}/chat/completions sent more than {MAX_ANSWER_BYTES >> 20} MB; "
                                     "is this a chat completions API?")
                left()
            return r.status_code, b"".join(chunks)

    def _read_events(self, lines: Any, left: Callable[[], float], on_text: Callable[[str], None]) -> bytes:
        """An SSE chat stream: each content delta goes to `on_text`; the whole answer comes back as the
        JSON of one chat completion (with the usage of the last event that had one), for `parse_completion`."""
        url, parts, usage, size, finished = f"{self.base_url}/chat/completions", [], {}, 0, False
        for line in lines:
            left()
            size += len(line)
            if size > MAX_ANSWER_BYTES:
                raise ModelError(f"{url} streamed more than {MAX_ANSWER_BYTES >> 20} MB")
            if not line.startswith("data:"):
                continue
            data = line[5:].strip()
            if data == "[DONE]":
                finished = True
                break
            try:
                event = json.loads(data)
            except ValueError:
                event = None
            if not isinstance(event, dict) or "error" in event:
                raise ModelError(f"{url} streamed {'an error' if isinstance(event, dict) else 'an event that is not JSON'}: "
                                 f"{data[:200]!r}")
            choices = event.get("choices")
            first = choices[0] if isinstance(choices, list) and choices and isinstance(choices[0], dict) else {}
            delta = first.get("delta")
            piece = delta.get("content") if isinstance(delta, dict) else None
            if isinstance(piece, str) and piece:
                parts.append(piece)
                on_text(piece)
            if isinstance(event.get("usage"), dict):
                usage = event["usage"]
            finished = finished or bool(first.get("finish_reason"))
        if not finished:
            raise ModelError(f"{url}: the stream ended before the answer did (no finish_reason, no [DONE])")
        return json.dumps({"choices": [{"message": {"content": "".join(parts)}}], "usage": usage}).encode()

    def complete(self, messages: list[Message], *, max_tokens: int = 256, temperature: float = 0.0,
                 stop: list[str] | None = None, choices: list[str] | None = None,
                 on_text: Callable[[str], None] | None = None) -> Completion:
        import httpx

        url = f"{self.base_url}/chat/completions"
        body: dict[str, Any] = {"model": self.model, "messages": messages, "max_tokens": max_tokens,
                                "temperature": temperature}
        if stop:
            body["stop"] = stop
        delivered = [False]  # once a piece reached the caller, a broken stream cannot be retried
        if on_text is not None:
            body.update(stream=True, stream_options={"include_usage": True})
            on_text = _noting(on_text, delivered)
        deadline = time.monotonic() + self.timeout
        with Timer() as t:
            for attempt in range(self.retries + 1):
                try:
                    status, raw = self._post(body, deadline, on_text)
                except httpx.TimeoutException:
                    raise ModelError(f"{url} did not answer within {self.timeout:g} s ({attempt + 1} "
                                     f"attempt{'s' if attempt else ''}); is the server overloaded? raise --timeout "
                                     "(or LADDER_TIMEOUT) for a slow model") from None
                except httpx.HTTPError as e:
                    if delivered[0]:
                        raise ModelError(f"{url}: the stream broke after part of the answer ({e}); "
                                         "not retried, as the part was already delivered") from None
                    if attempt == self.retries or not self._sleep(0.5 * 2**attempt, deadline):
                        raise ModelError(f"cannot reach {self.base_url} ({e}); is the server running? "
                                         "set --base-url or OPENAI_BASE_URL") from None
                    continue
                if status in RETRY_STATUS and attempt < self.retries and self._sleep(0.5 * 2**attempt, deadline):
                    continue
                break
        text, tokens_in, tokens_out = parse_completion(status, raw, url)
        return Completion(text, t.usage(tokens_in, tokens_out))

    @staticmethod
    def _sleep(seconds: float, deadline: float) -> bool:
        """Back off before a retry, if the deadline leaves time for one; False when it does not."""
        if time.monotonic() + seconds >= deadline:
            return False
        time.sleep(seconds)
        return True

    def close(self) -> None:
        self.client.close()


def _noting(on_text: Callable[[str], None], delivered: list[bool]) -> Callable[[str], None]:
    def deliver(piece: str) -> None:
        delivered[0] = True
        on_text(piece)
    return deliver

"""Any OpenAI-compatible server: vLLM, llama.cpp server, Ollama, or a hosted API.

`--model openai/<model>`; base URL and key from arguments, else
OPENAI_BASE_URL / OPENAI_API_KEY. Label sets are answered in free text and
mapped onto the labels by the program (servers differ in how, or whether,
they constrain output). Thread-safe: the evaluator keeps several requests in
flight against it.
"""
from __future__ import annotations

import os
import time

from ladder.models.base import Completion, Message, Model, ModelError, Timer

RETRY_STATUS = {429, 500, 502, 503, 504}


class OpenAIModel(Model):
    scores_choices = False
    local = False

    def __init__(self, model: str, base_url: str | None = None, api_key: str | None = None,
                 timeout: float = 120.0, retries: int = 3):
        import httpx

        self.model = model
        self.name = f"openai/{model}"
        self.base_url = (base_url or os.environ.get("OPENAI_BASE_URL") or "https://api.openai.com/v1").rstrip("/")
        key = api_key or os.environ.get("OPENAI_API_KEY", "")
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self.client = httpx.Client(base_url=self.base_url, headers=headers, timeout=timeout)
        self.retries = retries

    @property
    def fingerprint(self) -> str:
        return f"{self.name}@{self.base_url}"

    def complete(self, messages: list[Message], *, max_tokens: int = 256, temperature: float = 0.0,
                 stop: list[str] | None = None, choices: list[str] | None = None) -> Completion:
        import httpx

        body = {"model": self.model, "messages": messages, "max_tokens": max_tokens, "temperature": temperature}
        if stop:
            body["stop"] = stop
        with Timer() as t:
            for attempt in range(self.retries + 1):
                try:
                    r = self.client.post("/chat/completions", json=body)
                except httpx.HTTPError as e:
                    if attempt == self.retries:
                        raise ModelError(f"cannot reach {self.base_url} ({e}); is the server running? "
                                         "set --base-url or OPENAI_BASE_URL") from None
                    time.sleep(0.5 * 2**attempt)
                    continue
                if r.status_code in RETRY_STATUS and attempt < self.retries:
                    time.sleep(0.5 * 2**attempt)
                    continue
                break
        if r.status_code != 200:
            raise ModelError(f"{self.base_url} answered {r.status_code}: {r.text[:200]}")
        data = r.json()
        usage = data.get("usage") or {}
        text = data["choices"][0]["message"].get("content") or ""
        return Completion(text.strip(), t.usage(usage.get("prompt_tokens", 0), usage.get("completion_tokens", 0)))

    def close(self) -> None:
        self.client.close()

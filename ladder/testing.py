"""Test doubles that ship with the package, for ladder's tests and for users' own.

    model = DummyModel()
    model.enqueue(["positive", "negative"])   # answers in order; then `default`
"""
from __future__ import annotations

import re
import subprocess
from collections import deque
from pathlib import Path

from ladder.models.base import Completion, Message, Model, Usage


class DummyModel(Model):
    """Answers from a queue (or a function of the messages); records every call.

    With choices it picks the queued answer if it is a choice, else the first
    choice, like a backend that scores candidates. With `streams=True` a free-text
    answer also goes to `on_text` word by word, like a streaming backend.
    """

    def __init__(self, answers: list[str] | None = None, name: str = "dummy", default: str = "",
                 respond=None, scores_choices: bool = True, local: bool = True, params: int = 1,
                 streams: bool = False):
        self.name, self.default, self.respond = name, default, respond
        self.scores_choices, self.local, self.params, self.streams = scores_choices, local, params, streams
        self.queue: deque[str] = deque(answers or [])
        self.calls: list[dict] = []

    def enqueue(self, answers: list[str]) -> None:
        self.queue.extend(answers)

    @property
    def fingerprint(self) -> str:
        return f"dummy:{self.name}"

    def complete(self, messages: list[Message], *, max_tokens: int = 256, temperature: float = 0.0,
                 stop: list[str] | None = None, choices: list[str] | None = None, on_text=None) -> Completion:
        self.calls.append({"messages": messages, "choices": choices, "max_tokens": max_tokens, "streamed": bool(on_text)})
        text = self.respond(messages) if self.respond else (self.queue.popleft() if self.queue else self.default)
        n_in = sum(len(m["content"].split()) for m in messages)
        usage = Usage(n_in, max(1, len(text.split())), 0.001, 0.001)
        if choices:
            pick = text if text in choices else choices[0]
            return Completion(pick, usage, {c: (0.0 if c == pick else -5.0) for c in choices})
        for piece in re.findall(r"\s*\S+|\s+$", text) if on_text else []:
            on_text(piece)
        return Completion(text, usage)


class DummyEmbedder:
    """Deterministic bag-of-words embeddings (hashed), for retrieval tests without a model."""

    def __init__(self, dim: int = 64):
        self.dim = dim

    @property
    def fingerprint(self) -> str:
        """What an index records as its embedder (ladder.retrieval.index.build_index takes this object)."""
        return f"dummy-embedder:{self.dim}"

    def encode(self, texts: list[str]):
        import hashlib

        import numpy as np

        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, t in enumerate(texts):
            for w in t.lower().split():
                out[i, int(hashlib.md5(w.encode()).hexdigest(), 16) % self.dim] += 1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.where(norms == 0, 1, norms)


def run_cli(*args: object, cwd: str | Path | None = None) -> subprocess.CompletedProcess:
    """Run `ladder ARGS` in this process, as the console script would: exit code, stdout, stderr.

    Much cheaper than a subprocess for tests of the command line; an unexpected exception
    propagates (where the console script would print a traceback and exit 1).
    """
    import contextlib
    import io
    import os
    import sys

    from ladder.cli import main

    out, err = io.StringIO(), io.StringIO()
    argv, here, code = sys.argv, os.getcwd(), 0
    try:
        if cwd is not None:
            os.chdir(cwd)
        sys.argv = ["ladder", *map(str, args)]
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                main()
            except SystemExit as e:
                code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    finally:
        sys.argv = argv
        os.chdir(here)
    return subprocess.CompletedProcess(["ladder", *map(str, args)], code, out.getvalue(), err.getvalue())

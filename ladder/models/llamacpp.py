"""Embedded backend: a GGUF file run by llama-cpp-python in this process.

Two paths share one prompt rendering (the GGUF's own chat template):
- free text: greedy generation; llama.cpp keeps the KV cache of the longest
  common token prefix with the previous call, so few-shot prompts with fixed
  demos only evaluate the new input.
- `choices=[...]`: no grammar (a grammar over a 151k vocabulary costs ~1.2 s a
  call). The candidates are put in a token trie and decoded greedily *within*
  the trie: usually one forward pass over the prompt decides the label.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ladder.errors import env_count
from ladder.manifest import sha256_path
from ladder.models.base import Completion, Message, Model, ModelError, PromptTooLong, Timer


class LlamaCppModel(Model):
    scores_choices = True
    local = True
    streams = True

    def __init__(self, path: str | Path, name: str | None = None, lora_path: str | Path | None = None,
                 n_ctx: int = 4096, n_threads: int | None = None, sha256: str | None = None, params: int = 0):
        try:
            import llama_cpp  # noqa: F401
        except ImportError:
            raise ModelError("llama-cpp-python is not installed; run 'make install' (it builds it with AMX off)") from None
        self.path = Path(path)
        if not self.path.exists():
            raise ModelError(f"{self.path}: GGUF file not found")
        self.name = name or self.path.stem
        self.params = params or self.path.stat().st_size * 2  # ~4-bit weights: 2 params per byte
        self.lora_path = str(lora_path) if lora_path else None
        self._sha, self._fp = sha256, None
        self.n_ctx = n_ctx
        # LADDER_THREADS: fewer threads than cores helps on a busy machine (llama.cpp threads spin-wait)
        self.n_threads = n_threads or env_count("LADDER_THREADS") or os.cpu_count() or 2
        self._llama: Any = None  # loaded on first use: a fully cached run never loads the weights

    @property
    def llama(self) -> Any:
        if self._llama is None:
            self._load()
        return self._llama

    def _load(self) -> None:
        from llama_cpp import Llama
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        try:
            # n_threads_batch (prompt reading) defaults to every core in llama-cpp-python: with LADDER_THREADS=1
            # on a busy machine its spin-waiting threads made prompts 10-40x slower; use the same count
            llm = Llama(str(self.path), n_ctx=self.n_ctx, n_threads=self.n_threads, n_threads_batch=self.n_threads,
                        lora_path=self.lora_path,
                        verbose=False, seed=0)
        except (ValueError, RuntimeError) as e:
            raise ModelError(f"{self.path}: llama.cpp could not load it ({e})") from None
        meta = llm.metadata
        template = meta.get("tokenizer.chat_template")
        self._formatter = None
        if template:
            eos = llm.detokenize([llm.token_eos()], special=True).decode("utf-8", "ignore")
            bos = llm.detokenize([llm.token_bos()], special=True).decode("utf-8", "ignore") if llm.token_bos() >= 0 else ""
            self._formatter = Jinja2ChatFormatter(template=template, eos_token=eos, bos_token=bos)
        self._add_bos = meta.get("tokenizer.ggml.add_bos_token", "false") == "true"
        self._eot = llm.token_eos()
        self._llama = llm

    @property
    def fingerprint(self) -> str:
        """SHA-256 of the weights (+ of the LoRA adapter), computed once."""
        if self._fp is None:
            sha = self._sha or sha256_path(str(self.path))
            self._fp = sha + (f"+{sha256_path(self.lora_path)[:16]}" if self.lora_path else "")
        return self._fp

    # -- prompt ---------------------------------------------------------
    def render(self, messages: list[Message]) -> tuple[str, list[str]]:
        if self.llama is not None and self._formatter is None:
            raise ModelError(f"{self.name} has no chat template (a base model); use it for training, not chat")
        r = self._formatter(messages=messages)
        return r.prompt, list(r.stop or []) if isinstance(r.stop, list) else ([r.stop] if r.stop else [])

    def tokens(self, prompt: str) -> list[int]:
        return self.llama.tokenize(prompt.encode("utf-8"), add_bos=self._add_bos, special=True)

    # -- the contract ---------------------------------------------------
    def complete(self, messages: list[Message], *, max_tokens: int = 256, temperature: float = 0.0,
                 stop: list[str] | None = None, choices: list[str] | None = None,
                 on_text: Callable[[str], None] | None = None) -> Completion:
        prompt, template_stop = self.render(messages)
        toks = self.tokens(prompt)
        n_ctx = self.llama.n_ctx()
        if len(toks) >= n_ctx:
            raise PromptTooLong(f"prompt of {len(toks)} tokens does not fit the {n_ctx}-token context of {self.name}")
        with Timer() as t:
            if choices:
                text, logprobs, n_out = self._choose(toks, choices)
            else:
                params = {"max_tokens": min(max_tokens, n_ctx - len(toks)), "temperature": temperature,
                          "top_k": 1 if temperature == 0 else 40, "stop": (stop or []) + template_stop, "seed": 0}
                (text, n_out), logprobs = self._generate(toks, params, on_text), None
        return Completion(text.strip() if choices is None else text, t.usage(len(toks), n_out), logprobs)

    def _generate(self, toks: list[int], params: dict[str, Any], on_text: Callable[[str], None] | None) -> tuple[str, int]:
        """(answer, tokens generated); with `on_text`, the answer is streamed to it piece by piece."""
        if on_text is None:
            out: Any = self.llama.create_completion(toks, **params)
            return out["choices"][0]["text"], out["usage"]["completion_tokens"]
        pieces = []
        for part in self.llama.create_completion(toks, stream=True, **params):
            piece = part["choices"][0]["text"]
            if piece:
                pieces.append(piece)
                on_text(piece)
        text = "".join(pieces)  # a stream reports no usage: count the answer's tokens
        return text, len(self.llama.tokenize(text.encode("utf-8"), add_bos=False, special=False))

    # -- scoring candidates --------------------------------------------
    def _eval_to(self, toks: list[int]) -> np.ndarray:
        """Evaluate `toks`, reusing the cached common prefix; return log-probs after the last token."""
        llm = self.llama
        cached = llm.input_ids[: llm.n_tokens]
        n = 0
        for a, b in zip(cached, toks):
            if a != b:
                break
            n += 1
        n = min(n, len(toks) - 1)  # always decode at least one token to get fresh logits
        llm.n_tokens = n
        llm.eval(toks[n:])
        logits = np.ctypeslib.as_array(llm._ctx.get_logits(), shape=(llm.n_vocab(),)).astype(np.float64)
        m = logits.max()
        return logits - m - np.log(np.exp(logits - m).sum())

    def _choose(self, prompt: list[int], choices: list[str]) -> tuple[str, dict[str, float], int]:
        seqs = {c: self.llama.tokenize(c.encode("utf-8"), add_bos=False, special=False) + [self._eot] for c in choices}
        alive = dict(seqs)
        score = {c: 0.0 for c in choices}  # log-prob of each candidate's tokens, as far as it was followed
        ctx, depth = list(prompt), 0
        while len(alive) > 1:  # distinct labels + end token: the trie always narrows to one
            lp = self._eval_to(ctx)
            for c, s in alive.items():
                score[c] += float(lp[s[depth]])
            tok = max({s[depth] for s in alive.values()}, key=lambda t: lp[t])
            alive = {c: s for c, s in alive.items() if s[depth] == tok}
            ctx.append(tok)
            depth += 1
        winner = next(iter(alive))
        return winner, score, depth

    def close(self) -> None:
        if self._llama is not None:
            self._llama.close()
            self._llama = None

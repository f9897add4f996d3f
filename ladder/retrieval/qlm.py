"""Query-likelihood reranking (UPR, Sachan et al. 2022; Zhuang et al. 2023): how likely is the query
as a question written about the passage?

    score(q, p) = mean over the query's tokens t of log P(t | "Passage: <p>\\nWrite a question this
                  passage answers:", the query's earlier tokens)

One forward pass per (query, passage) pair and no generation: the model only reads. A passage that
answers the query makes the query's words predictable, so relevance shows as a higher mean log-prob.
The model never sees an instruction to judge, so small models that answer "Yes"/"No" at random
(the `pointwise:` reranker) can still rank by likelihood.

Two backends score the query tokens, chosen by `backend=`; they agree to within 0.09 nats per token
(the GGUF's 4-bit weights against their fp32 dequantization):

- `torch` (default: 1.47 against 1.30 pairs/s for llama.cpp with smollm2-135m on one thread, the
  same 16 SciFact pairs, bench/results/rerank_qlm_speed_smollm2-135m.json): the bundled GGUF dequantized to fp32 once
  (`ladder.models.hf`), a query's pairs padded into one batch, the vocabulary projection applied
  only at the query's positions. `dtype="auto"` runs the weights in bf16 where the CPU has native
  bf16 (`hf.inference_dtype`): 3.1-3.9x the fp32 pairs/s for qwen2.5-coder-0.5b on two threads,
  scores closer to fp32 than the 4-bit GGUF's (bench/results/rerank_qlm_speed_qwen2.5-coder-0.5b.json).
- `llamacpp`: the GGUF run by llama.cpp. The prompt prefix is evaluated with logits for its last
  position only (llama.cpp reuses the KV cache of the prefix shared with the previous pair: the
  fixed "Passage:" start), then the query's tokens in one batch with logits for every position.

`QueryLikelihood.rerank` can blend its order with the first stage's (`rerank.BLENDS`); the
weight is chosen without test labels (see docs/retrieval.md).
"""
from __future__ import annotations

import math
import time
from typing import Protocol

from ladder.errors import InputError, LadderError
from ladder.retrieval.hit import Hit
from ladder.retrieval.threads import torch_threads

INSTRUCTION = "Write a question this passage answers:"
DEFAULT_MODEL = "smollm2-135m"
# (kind, QLM weight) used when no blend is given: chosen on sampled SciFact TRAIN queries
# (bench/rerank_qlm.py); label-free for any other corpus.
DEFAULT_BLEND = ("score", 0.4)
MAX_WORDS = 128  # passage words kept; UPR-style scoring reads the passage only to condition on it


def qlm_prefix(hit: Hit, max_words: int = MAX_WORDS, instruction: str = INSTRUCTION) -> str:
    """The text before the query.

    >>> qlm_prefix(Hit("d1", 0.0, "one two three", "Title"), max_words=2)
    'Passage: Title. one two ...\\nWrite a question this passage answers:'
    """
    words = hit.text.split()
    body = " ".join(words[:max_words]) + (" ..." if len(words) > max_words else "")
    head = f"{hit.title}. " if hit.title else ""
    return f"Passage: {head}{body}\n{instruction}"


class ContinuationScorer(Protocol):
    """Mean log-probability of `continuation`'s tokens after each prefix."""

    name: str

    def mean_logprobs(self, prefixes: list[str], continuation: str) -> list[float]: ...


class LlamaCppScorer:
    """Continuation log-probs from a llama.cpp model (`LlamaCppModel` from ladder.models)."""

    def __init__(self, model):
        if not hasattr(model, "llama"):
            raise LadderError(f"qlm reranking needs token log-probabilities from a local model; '{model.name}' "
                              "has none (use a bundled name such as smollm2-135m or a .gguf path)")
        self.model, self.name = model, model.name
        self.tokens_in = 0

    def _tok(self, text: str, bos: bool) -> list[int]:
        llm = self.model.llama
        return llm.tokenize(text.encode("utf-8"), add_bos=bos and getattr(self.model, "_add_bos", False), special=False)

    def mean_logprobs(self, prefixes: list[str], continuation: str) -> list[float]:
        cont = self._tok(continuation, False)
        if not cont:
            raise LadderError("qlm: the query is empty")
        return [self._one(self._tok(p, True), cont) for p in prefixes]

    def _one(self, prefix: list[int], cont: list[int]) -> float:
        import numpy as np

        llm = self.model.llama
        n_ctx = llm.n_ctx()
        if len(prefix) + len(cont) > n_ctx:
            prefix = prefix[: n_ctx - len(cont) - 1]
        first = self.model._eval_to(prefix)  # log-probs after the prefix: predicts the query's first token
        total = float(first[cont[0]])
        if len(cont) > 1:
            n_past = llm.n_tokens
            llm._batch.set_batch(batch=cont[:-1], n_past=n_past, logits_all=True)
            llm._ctx.decode(llm._batch)
            llm.input_ids[n_past: n_past + len(cont) - 1] = cont[:-1]
            llm.n_tokens = n_past + len(cont) - 1
            logits = np.ctypeslib.as_array(llm._ctx.get_logits(), shape=(len(cont) - 1, llm.n_vocab()))
            logits = logits.astype(np.float64)
            m = logits.max(axis=1, keepdims=True)
            lse = (m + np.log(np.exp(logits - m).sum(axis=1, keepdims=True)))[:, 0]
            total += float((logits[np.arange(len(cont) - 1), cont[1:]] - lse).sum())
        self.tokens_in += len(prefix) + len(cont)
        return total / len(cont)


class TorchScorer:
    """Continuation log-probs from the Hugging Face weights of a bundled model (or an HF folder): its GGUF
    dequantized, run in bf16 or fp32 (`dtype`, see `hf.inference_dtype`)."""

    def __init__(self, spec: str, batch_size: int = 8, max_tokens: int = 512, dtype: str = "auto"):
        from ladder.models.hf import inference_dtype, load_base

        self.dtype = inference_dtype(dtype)
        self.model, self.tok = load_base(spec, dtype=self.dtype)
        self.name, self.batch_size, self.max_tokens = str(spec), batch_size, max_tokens
        self.tokens_in = 0

    def mean_logprobs(self, prefixes: list[str], continuation: str) -> list[float]:
        torch_threads(small=False)  # a query embedding just before may have left torch on one thread
        cont = self.tok(continuation, add_special_tokens=False)["input_ids"]
        if not cont:
            raise LadderError("qlm: the query is empty")
        if len(cont) > self.max_tokens // 2:
            raise LadderError(f"qlm: the query is {len(cont)} tokens long; at most {self.max_tokens // 2} fit beside "
                              "a passage. Shorten the query or rerank it another way")
        out: list[float] = []
        for i in range(0, len(prefixes), self.batch_size):
            out += self._batch(prefixes[i: i + self.batch_size], cont)
        return out

    def _batch(self, prefixes: list[str], cont: list[int]) -> list[float]:
        import torch

        bos = [self.tok.bos_token_id] if self.tok.bos_token_id is not None and getattr(self.tok, "add_bos_token", False) else []
        seqs = [(bos + self.tok(p, add_special_tokens=False)["input_ids"])[: self.max_tokens - len(cont)] for p in prefixes]
        n = len(cont)
        width = max(len(s) for s in seqs) + n
        ids = torch.full((len(seqs), width), self.tok.pad_token_id, dtype=torch.long)
        mask = torch.zeros_like(ids)
        pos = torch.zeros((len(seqs), n), dtype=torch.long)  # where each query token's prediction is read
        for r, s in enumerate(seqs):
            row = s + cont
            ids[r, : len(row)] = torch.tensor(row)
            mask[r, : len(row)] = 1
            pos[r] = torch.arange(len(s) - 1, len(s) - 1 + n)
        with torch.no_grad():
            hidden = self.model.model(input_ids=ids, attention_mask=mask).last_hidden_state  # (B, T, d)
            h = hidden.gather(1, pos[:, :, None].expand(-1, -1, hidden.shape[-1]))  # (B, n, d)
            logp = torch.log_softmax(self.model.lm_head(h).float(), dim=-1)  # (B, n, V)
            target = torch.tensor(cont)[None, :, None].expand(len(seqs), -1, -1)
            per_token = logp.gather(2, target)[:, :, 0]  # (B, n)
        self.tokens_in += int(mask.sum())
        return per_token.mean(dim=1).tolist()


def make_scorer(spec: str, backend: str = "torch", model=None, dtype: str = "auto") -> ContinuationScorer:
    """`dtype` (auto, bf16, fp32) applies to the torch backend; llama.cpp runs the GGUF as it is."""
    if backend == "torch" and model is None:
        return TorchScorer(spec, dtype=dtype)
    if backend not in ("llamacpp", "torch"):
        raise LadderError(f"unknown qlm backend '{backend}'; choose one of: llamacpp, torch")
    if model is None:
        from ladder.models import load_model

        model = load_model(spec)
    return LlamaCppScorer(model)


class QueryLikelihood:
    """Rerank by the mean log-prob of the query given each passage; optionally blend with the first stage.

    `blend`: the QLM's weight in `rerank.BLENDS[blend_kind]` (None or 1 = QLM order alone).
    """

    def __init__(self, scorer: ContinuationScorer, max_words: int = MAX_WORDS, blend: float | None = None,
                 blend_kind: str = "rank", instruction: str = INSTRUCTION):
        from ladder.models.base import Usage
        from ladder.retrieval.rerank import BLENDS

        if blend is not None and not 0.0 <= blend <= 1.0:
            raise LadderError(f"qlm blend weight must be between 0 and 1 (got {blend})")
        if blend_kind not in BLENDS:
            raise LadderError(f"unknown qlm blend '{blend_kind}'; choose one of: {', '.join(BLENDS)}")
        self.scorer, self.max_words, self.instruction = scorer, max_words, instruction
        self.blend, self.blend_kind = blend, blend_kind
        self.name = f"qlm:{scorer.name}"
        self.pairs, self.seconds, self.usage = 0, 0.0, Usage()

    @property
    def pairs_per_second(self) -> float:
        return self.pairs / self.seconds if self.seconds else 0.0

    def scores(self, query: str, hits: list[Hit]) -> list[float]:
        if not hits:
            return []
        t = time.perf_counter()
        out = self.scorer.mean_logprobs([qlm_prefix(h, self.max_words, self.instruction) for h in hits], " " + query.strip())
        self.pairs += len(hits)
        self.seconds += time.perf_counter() - t
        return out

    def relevance(self, query: str, hits: list[Hit]) -> list[float]:
        """Soft labels in [0, 1] (for distillation): each passage's query likelihood relative to the best
        one's, per token: exp(score - max score). The best candidate gets 1."""
        s = self.scores(query, hits)
        top = max(s, default=0.0)
        return [math.exp(x - top) for x in s]

    def rerank(self, query: str, hits: list[Hit], k: int | None = None) -> list[Hit]:
        from ladder.retrieval.rerank import BLENDS

        s = self.scores(query, hits)
        order = sorted(range(len(hits)), key=lambda i: (-s[i], i))  # ties keep the retriever's order
        out = [Hit(hits[i].doc_id, s[i], hits[i].text, hits[i].title) for i in order]
        if self.blend is not None and self.blend < 1.0:
            out = BLENDS[self.blend_kind](hits, out, self.blend)
        return out[:k] if k else out


def factory(arg: str, model=None, blend: float | None = None, blend_kind: str | None = None,
            backend: str = "torch", dtype: str | None = None, **kw) -> QueryLikelihood:
    """The reranker registry's `qlm:<model>` entry: a bundled name or .gguf (default smollm2-135m);
    blended with the first stage at DEFAULT_BLEND unless `blend` (1.0 = QLM order alone) is given.
    `dtype` (auto, bf16, fp32) defaults to $LADDER_QLM_DTYPE, else auto."""
    import os

    from ladder.models.hf import DTYPES

    kind, weight = DEFAULT_BLEND
    if dtype is None:
        dtype = os.environ.get("LADDER_QLM_DTYPE", "auto")
        if dtype not in DTYPES:
            raise InputError("LADDER_QLM_DTYPE", f"unknown dtype '{dtype}'; choose one of: {', '.join(DTYPES)}")
    scorer = make_scorer(arg or (model.name if model is not None else DEFAULT_MODEL), backend, model, dtype=dtype)
    return QueryLikelihood(scorer, blend=weight if blend is None else blend, blend_kind=blend_kind or kind, **kw)

"""Pretraining: a small model from scratch, or continued pretraining of a bundled base.

    from ladder.train.pretrain import PretrainConfig, pretrain
    result = pretrain("corpus.jsonl", PretrainConfig(out="runs/pt1", params="20M"))       # from scratch
    result = pretrain("corpus.jsonl", PretrainConfig(out="runs/cpt1", base="gemma3-270m"))  # continued

One loop serves both (nanoGPT's shape): documents are split into train and
held-out by a hash of their text, tokenized and packed into one stream per
split (an END/EOS token between documents); each step reads `batch_size`
random windows of `seq_len + 1` tokens, the sampler seeded by (seed, step) so
that a resumed run sees exactly the batches an uninterrupted one would. AdamW
with linear warm-up and cosine decay. Every `checkpoint_every` steps the model,
optimizer and counters are written (safetensors + JSON, temp folder + rename);
the same command resumes from there. Held-out perplexity is measured before the
first step and after the last one, on the same fixed windows.

The run folder:
    model/          the trained model in transformers' layout (config.json, model.safetensors, tokenizer)
    model.gguf      the same weights for llama.cpp
    checkpoint/     the last checkpoint (removed when the run completes)
    result.json     what was done and what it cost (see `PretrainResult` fields)
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

from ladder.errors import LadderError
from ladder.train import memory
from ladder.train.pretrain_data import encode_docs, load_texts, split_heldout
from ladder.train.plan import parse_count, run_cost

RESULT_VERSION = 1
MIN_WINDOWS = 4  # fewer train windows than this and "pretraining" is memorising a paragraph


@dataclass
class PretrainConfig:
    out: str | Path
    params: str | int | None = None  # from scratch: target size, e.g. "20M"
    base: str | None = None  # continued: a bundled name, a .gguf, or an HF folder
    seq_len: int = 256  # context per window; CPU attention cost grows with its square
    batch_size: int = 8  # windows per step; tokens per step = batch_size * seq_len
    steps: int | None = None  # default: one pass over the train tokens (at most `max_default_steps`)
    max_minutes: float | None = None  # time budget: stop after the step that crosses it (the schedule still spans `steps`)
    max_default_steps: int = 2000
    lr: float | None = None  # default 1e-3 from scratch (small models take it), 5e-5 continued (keep what the base knows)
    warmup: int | None = None  # default 5% of the steps
    weight_decay: float = 0.1
    grad_clip: float = 1.0
    vocab_size: int = 8192  # from scratch only: BPE size trained on the corpus
    heldout: float = 0.05  # share of documents kept out of training for perplexity
    eval_tokens: int = 16384  # held-out tokens scored each evaluation (fixed windows: comparable before/after)
    checkpoint_every: int = 50
    seed: int = 0
    freeze_embeddings: bool = False  # continued: train the transformer only (saves memory and ~1/3 of the time with big vocabularies)
    cpu_hour: float = 0.05  # USD per CPU-core-hour, as ladder.cost prices every local model call
    gguf_type: str = "q8_0"  # continued: GGUF weight type for llama.cpp (f32, f16, bf16, q8_0)
    export: bool = True

    def __post_init__(self) -> None:
        if (self.params is None) == (self.base is None):
            raise LadderError("give either --scratch --params SIZE (a new model) or --from BASE (continued pretraining)")
        if self.params is not None:
            self.params = parse_count(self.params, "--params")
        for name in ("seq_len", "batch_size", "checkpoint_every", "eval_tokens"):
            if int(getattr(self, name)) < 1:
                raise LadderError(f"--{name.replace('_', '-')}: must be at least 1")
        if self.steps is not None and self.steps < 1:
            raise LadderError("--steps: must be at least 1")
        if not 0 < self.heldout < 0.5:
            raise LadderError(f"--heldout: {self.heldout} must be between 0 and 0.5")

    @property
    def scratch(self) -> bool:
        return self.base is None


@dataclass
class PretrainResult:
    kind: str  # "scratch" or "continued"
    base: str | None
    params: int
    steps: int
    tokens_seen: int
    train_tokens: int
    heldout_tokens: int
    heldout_docs: int
    perplexity_before: float
    perplexity_after: float
    wall_seconds: float
    cpu_seconds: float
    flops: float
    tokens_per_second: float
    dollars: float
    usd_per_cpu_hour: float
    resumed_from: int  # step the last resume started at (0 = never interrupted)
    model_dir: str
    gguf: str | None
    perplexity_before_ci: tuple[float, float] = (0.0, 0.0)  # 95% bootstrap over held-out windows
    perplexity_after_ci: tuple[float, float] = (0.0, 0.0)
    heldout_nll_before: list[float] = field(default_factory=list)  # mean loss per held-out window (paired before/after)
    heldout_nll_after: list[float] = field(default_factory=list)
    losses: list[dict[str, float]] = field(default_factory=list)  # [{step, loss, tokens, seconds}]
    config: dict[str, Any] = field(default_factory=dict)
    version: int = RESULT_VERSION

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# ---------------------------------------------------------------- the loop


def lr_at(step: int, total: int, peak: float, warmup: int) -> float:
    """Linear warm-up to `peak`, then cosine decay to peak/10 at `total`.

    >>> [round(lr_at(s, 100, 1.0, 10), 3) for s in (0, 5, 10, 55, 100)]
    [0.091, 0.545, 1.0, 0.55, 0.1]
    """
    if step < warmup:
        return peak * (step + 1) / (warmup + 1)
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return peak * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))


def batch_at(stream, step: int, batch: int, seq: int, seed: int, bos: int | None = None):
    """Windows for `step`: (x, y) each (batch, seq); y is x shifted by one token. Same step -> same batch."""
    import torch

    g = torch.Generator().manual_seed(seed * 1_000_003 + step)
    starts = torch.randint(0, len(stream) - seq - 1 + 1, (batch,), generator=g)
    rows = torch.stack([stream[s: s + seq + 1] for s in starts.tolist()])  # (B, T+1)
    x, y = rows[:, :-1].clone(), rows[:, 1:]
    if bos is not None:  # models served with a BOS first (Gemma) misbehave on windows that start without one
        x[:, 0] = bos
    return x, y


def window_nll(forward: Callable, stream, seq: int, max_tokens: int, batch: int, bos: int | None = None) -> list[float]:
    """Mean next-token loss (nats) of each consecutive, non-overlapping window from the stream's start."""
    import torch
    import torch.nn.functional as F

    n_windows = max(1, min((len(stream) - 1) // seq, max_tokens // seq))
    out: list[float] = []
    with torch.no_grad():
        for i in range(0, n_windows, batch):
            rows = torch.stack([stream[w * seq: w * seq + seq + 1] for w in range(i, min(n_windows, i + batch))])
            x = rows[:, :-1].clone()
            if bos is not None:
                x[:, 0] = bos
            logits = forward(x)  # (b, T, V)
            loss = F.cross_entropy(logits.transpose(1, 2).float(), rows[:, 1:], reduction="none")  # (b, T)
            out.extend(loss.mean(dim=1).tolist())
    return out


def perplexity(nll: list[float]) -> float:
    """exp of the mean loss; windows have equal length, so this is the token-level perplexity.

    >>> round(perplexity([math.log(4), math.log(16)]), 3)  # geometric mean of 4 and 16
    8.0
    """
    return math.exp(sum(nll) / len(nll))


def perplexity_interval(nll: list[float], n_boot: int = 2000, seed: int = 0) -> tuple[float, float]:
    """95% bootstrap interval of the perplexity, resampling windows (seeded, so reproducible).

    >>> perplexity_interval([2.0] * 10)  # no spread, no uncertainty
    (7.389, 7.389)
    """
    from ladder.stats import bootstrap_ci

    lo, hi = bootstrap_ci(nll, samples=n_boot, seed=seed)  # perplexity = exp(mean nll), monotone in the mean
    return round(math.exp(lo), 3), round(math.exp(hi), 3)


def _fingerprint(corpus: str, cfg: PretrainConfig) -> str:
    keep = {k: v for k, v in asdict(cfg).items() if k not in ("out", "export", "gguf_type", "cpu_hour", "checkpoint_every")}
    blob = json.dumps([str(Path(corpus).resolve()) if Path(corpus).exists() else corpus, keep], sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def pretrain(corpus: str | Path, cfg: PretrainConfig,
             on_step: Callable[[dict[str, Any]], None] | None = None) -> PretrainResult:
    """Train, evaluate, save and export; resumes from `cfg.out/checkpoint` when it matches this run."""
    import torch

    from ladder.train import pretrain_checkpoint as ckpt

    corpus = str(corpus)
    out = Path(cfg.out)
    if (out / "result.json").exists() and not (out / "checkpoint").exists():
        raise LadderError(f"{out}: holds a finished run; choose another --out or delete it")
    texts = load_texts(corpus)
    train_texts, held_texts = split_heldout(texts, cfg.heldout, where=corpus)
    torch.manual_seed(cfg.seed)

    # -- model and tokenizer
    if cfg.scratch:
        from ladder.train.model import TinyLlama, config_for_params
        from ladder.train.tokenizer import END, save_tokenizer, train_tokenizer

        tok = train_tokenizer(train_texts, vocab_size=cfg.vocab_size)  # held-out text never shapes the vocabulary
        mcfg = config_for_params(int(cfg.params), tok.get_vocab_size(), max_seq=cfg.seq_len)
        shape = (mcfg.d_model, mcfg.n_layer, mcfg.n_head, mcfg.vocab_size)
        n_params = trainable = mcfg.n_params()
        encode = lambda ts: [[tok.token_to_id(END)] + e.ids for e in tok.encode_batch(ts)]  # noqa: E731
    else:
        from transformers import AutoConfig

        from ladder.models.hf import hf_dir

        hc = AutoConfig.from_pretrained(str(hf_dir(cfg.base)))
        hc = getattr(hc, "text_config", hc)
        shape = (hc.hidden_size, hc.num_hidden_layers, hc.num_attention_heads, hc.vocab_size)
        embed = hc.vocab_size * hc.hidden_size
        n_params = _hf_param_count(hc)
        trainable = n_params - embed if cfg.freeze_embeddings else n_params
    est = memory.estimate(n_params, trainable, cfg.batch_size, cfg.seq_len, d_model=shape[0], n_layer=shape[1],
                          n_head=shape[2], vocab=shape[3])
    memory.check(est, 0.9 * memory.available_gib(),
                 "lower --batch-size or --seq-len, pick a smaller --params, or use --freeze-embeddings "
                 "(the limit is 90% of the free memory)")

    if cfg.scratch:
        model = TinyLlama(mcfg)
        forward = model
        bos = None  # every document starts with END already; llama.cpp adds END as BOS when serving
    else:
        from ladder.models.hf import load_base

        model, hf_tok = load_base(cfg.base)
        n_params = sum(p.numel() for p in model.parameters())
        if cfg.freeze_embeddings:
            model.get_input_embeddings().weight.requires_grad_(False)
        forward = lambda x: model(input_ids=x).logits  # noqa: E731
        encode = lambda ts: encode_docs(hf_tok, ts)  # noqa: E731
        bos = bos_token(hf_tok)

    train_stream = torch.tensor([t for ids in encode(train_texts) for t in ids], dtype=torch.long)
    held_stream = torch.tensor([t for ids in encode(held_texts) for t in ids], dtype=torch.long)
    need = MIN_WINDOWS * (cfg.seq_len + 1)
    if len(train_stream) < need or len(held_stream) < cfg.seq_len + 1:
        raise LadderError(
            f"{corpus}: corpus too small for --seq-len {cfg.seq_len}: {len(train_stream):,} train and "
            f"{len(held_stream):,} held-out tokens (need {need:,} and {cfg.seq_len + 1:,}); add documents or lower --seq-len"
        )
    tokens_per_step = cfg.batch_size * cfg.seq_len
    steps = cfg.steps or max(1, min(cfg.max_default_steps, len(train_stream) // tokens_per_step))
    peak_lr = cfg.lr if cfg.lr is not None else (1e-3 if cfg.scratch else 5e-5)
    warmup = cfg.warmup if cfg.warmup is not None else max(1, steps // 20)
    params = [p for p in model.parameters() if p.requires_grad]
    decay = [p for p in params if p.dim() >= 2]  # no weight decay on norm gains
    no_decay = [p for p in params if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=peak_lr, betas=(0.9, 0.95))

    fp = _fingerprint(corpus, cfg)
    state = ckpt.load(out / "checkpoint", fp, model, opt)
    if state is None:
        model.eval()
        state = {"step": 0, "wall": 0.0, "cpu": 0.0, "losses": [], "resumed_from": 0,
                 "nll_before": window_nll(forward, held_stream, cfg.seq_len, cfg.eval_tokens, cfg.batch_size, bos)}
    else:
        state["resumed_from"] = state["step"]

    import torch.nn.functional as F

    model.train()
    t_wall, t_cpu = time.perf_counter(), time.process_time()
    wall0, cpu0 = state["wall"], state["cpu"]
    seg_start = state["step"]
    for step in range(state["step"], steps):
        lr = lr_at(step, steps, peak_lr, warmup)
        for group in opt.param_groups:
            group["lr"] = lr
        x, y = batch_at(train_stream, step, cfg.batch_size, cfg.seq_len, cfg.seed, bos)
        logits = forward(x)  # (B, T, V)
        loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)).float(), y.reshape(-1))  # mean over B*T
        if not torch.isfinite(loss):
            raise LadderError(f"training diverged: loss {loss.item()} at step {step + 1}; lower --lr (now {peak_lr:g})")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip)
        opt.step()
        done, loss_value = step + 1, loss.item()
        elapsed = time.perf_counter() - t_wall
        state.update(step=done, wall=wall0 + elapsed, cpu=cpu0 + time.process_time() - t_cpu)
        state["losses"].append({"step": done, "loss": round(loss_value, 4), "tokens": done * tokens_per_step,
                                "seconds": round(state["wall"], 2)})
        if on_step:
            rate = (done - seg_start) * tokens_per_step / max(elapsed, 1e-9)
            on_step({"step": done, "steps": steps, "loss": loss_value, "lr": lr, "tokens_per_second": rate,
                     "eta_seconds": (steps - done) * tokens_per_step / max(rate, 1e-9)})
        if done % cfg.checkpoint_every == 0 and done < steps:
            ckpt.save(out / "checkpoint", fp, model, opt, state)
        if cfg.max_minutes is not None and state["wall"] > 60 * cfg.max_minutes:
            break

    model.eval()
    nll_after = window_nll(forward, held_stream, cfg.seq_len, cfg.eval_tokens, cfg.batch_size, bos)
    model_dir = out / "model"
    gguf_path = out / "model.gguf"
    if cfg.scratch:
        model.save_pretrained(model_dir)
        save_tokenizer(tok, model_dir, model_max_length=cfg.seq_len)
        if cfg.export:
            from ladder.train.model import export_gguf

            export_gguf(model, tok, gguf_path, name=out.name)
    else:
        from ladder.models.hf import export_gguf, save_hf

        save_hf(model, hf_tok, model_dir)
        if cfg.export:
            export_gguf(model_dir, gguf_path, outtype=cfg.gguf_type)
    tokens_seen = state["step"] * tokens_per_step
    cost = run_cost(n_params, tokens_seen, state["wall"], state["cpu"], cfg.cpu_hour)
    result = PretrainResult(
        kind="scratch" if cfg.scratch else "continued", base=cfg.base, params=n_params, steps=state["step"],
        tokens_seen=tokens_seen, train_tokens=len(train_stream), heldout_tokens=len(held_stream),
        heldout_docs=len(held_texts), perplexity_before=perplexity(state["nll_before"]), perplexity_after=perplexity(nll_after),
        perplexity_before_ci=perplexity_interval(state["nll_before"]), perplexity_after_ci=perplexity_interval(nll_after),
        heldout_nll_before=state["nll_before"], heldout_nll_after=nll_after,
        wall_seconds=state["wall"], cpu_seconds=state["cpu"], flops=cost["flops"],
        tokens_per_second=tokens_seen / max(state["wall"], 1e-9), dollars=cost["dollars"],
        usd_per_cpu_hour=cfg.cpu_hour, resumed_from=state["resumed_from"], model_dir=str(model_dir),
        gguf=str(gguf_path) if cfg.export else None, losses=state["losses"],
        config={**{k: v for k, v in asdict(cfg).items() if k != "out"}, "lr": peak_lr, "warmup": warmup,
                "memory_estimate_gib": round(est.total, 2), "corpus": corpus},
    )
    tmp = out / "result.json.tmp"
    tmp.write_text(json.dumps(result.to_dict(), indent=1, default=str) + "\n")
    os.replace(tmp, out / "result.json")
    shutil.rmtree(out / "checkpoint", ignore_errors=True)
    return result


def bos_token(hf_tokenizer) -> int | None:
    """The BOS id when the tokenizer puts one before every text (Gemma, Llama), else None (SmolLM2, Qwen)."""
    bos = hf_tokenizer.bos_token_id
    ids = hf_tokenizer("a", add_special_tokens=True)["input_ids"]
    return bos if bos is not None and ids and ids[0] == bos else None


def _hf_param_count(hc: Any) -> int:
    """Parameters of a LLaMA-family config without building it (for the memory check)."""
    d, L, V = hc.hidden_size, hc.num_hidden_layers, hc.vocab_size
    hd = getattr(hc, "head_dim", None) or d // hc.num_attention_heads
    kv = getattr(hc, "num_key_value_heads", None) or hc.num_attention_heads
    attn = 2 * d * hc.num_attention_heads * hd + 2 * d * kv * hd
    tied = getattr(hc, "tie_word_embeddings", True)
    return V * d * (1 if tied else 2) + L * (attn + 3 * d * hc.intermediate_size + 4 * d) + d

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
optimizer and loop state (`PretrainLoop`) are written (ladder.train.checkpoint:
safetensors + JSON, temp folder + rename); the same command resumes from there.
Held-out perplexity (ladder.train.perplexity) is measured before the first step
and after the last one, on the same fixed windows.

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
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from ladder.errors import LadderError
from ladder.manifest import atomic_file
from ladder.train import checkpoint, memory
from ladder.train.perplexity import perplexity, perplexity_interval, window_nll
from ladder.train.plan import parse_count, run_cost
from ladder.train.pretrain_data import batch_at, bos_token, encode_docs, load_texts, split_heldout

__all__ = ["PretrainConfig", "PretrainLoop", "PretrainResult", "lr_at", "perplexity",
           "perplexity_interval", "pretrain", "window_nll"]

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


def _fingerprint(corpus: str, cfg: PretrainConfig) -> str:
    keep = {k: v for k, v in asdict(cfg).items() if k not in ("out", "export", "gguf_type", "cpu_hour", "checkpoint_every")}
    blob = json.dumps([str(Path(corpus).resolve()) if Path(corpus).exists() else corpus, keep], sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def pretrain(corpus: str | Path, cfg: PretrainConfig,
             on_step: Callable[[dict[str, Any]], None] | None = None) -> PretrainResult:
    """Train, evaluate, save and export; resumes from `cfg.out/checkpoint` when it matches this run."""
    import torch

    corpus, out = str(corpus), Path(cfg.out)
    if (out / "result.json").exists() and checkpoint.found(out / "checkpoint") is None:
        raise LadderError(f"{out}: holds a finished run; choose another --out or delete it")
    train_texts, held_texts = split_heldout(load_texts(corpus), cfg.heldout, where=corpus)
    torch.manual_seed(cfg.seed)  # before the model is built: its initial weights come from this seed
    net = _scratch_net(cfg, train_texts) if cfg.scratch else _continued_net(cfg)
    train_stream, held_stream = _streams(net, train_texts, held_texts, cfg, corpus)
    plan = _plan(cfg, len(train_stream))
    opt, params = _optimizer(net.model, cfg, plan.peak_lr)
    fp = _fingerprint(corpus, cfg)
    loop = _resume(out / "checkpoint", fp, net, opt, held_stream, cfg)
    _train(net, opt, params, train_stream, loop, plan, cfg, out / "checkpoint", fp, on_step)

    net.model.eval()
    nll_after = window_nll(net.forward, held_stream, cfg.seq_len, cfg.eval_tokens, cfg.batch_size, net.bos)
    model_dir, gguf_path = _save_model(net, cfg, out)
    tokens_seen = loop.step * plan.tokens_per_step
    cost = run_cost(net.n_params, tokens_seen, loop.wall, loop.cpu, cfg.cpu_hour)
    result = PretrainResult(
        kind="scratch" if cfg.scratch else "continued", base=cfg.base, params=net.n_params, steps=loop.step,
        tokens_seen=tokens_seen, train_tokens=len(train_stream), heldout_tokens=len(held_stream),
        heldout_docs=len(held_texts), perplexity_before=perplexity(loop.nll_before), perplexity_after=perplexity(nll_after),
        perplexity_before_ci=perplexity_interval(loop.nll_before), perplexity_after_ci=perplexity_interval(nll_after),
        heldout_nll_before=loop.nll_before, heldout_nll_after=nll_after,
        wall_seconds=loop.wall, cpu_seconds=loop.cpu, flops=cost["flops"],
        tokens_per_second=tokens_seen / max(loop.wall, 1e-9), dollars=cost["dollars"],
        usd_per_cpu_hour=cfg.cpu_hour, resumed_from=loop.resumed_from, model_dir=str(model_dir),
        gguf=str(gguf_path) if cfg.export else None, losses=loop.losses,
        config={**{k: v for k, v in asdict(cfg).items() if k != "out"}, "lr": plan.peak_lr, "warmup": plan.warmup,
                "memory_estimate_gib": round(net.memory_gib, 2), "corpus": corpus},
    )
    with atomic_file(out / "result.json") as tmp:
        tmp.write_text(json.dumps(result.to_dict(), indent=1, default=str) + "\n")
    checkpoint.discard(out / "checkpoint")
    return result


# ---------------------------------------------------------------- the pieces


@dataclass
class PretrainLoop:
    """The loop's counters: what a checkpoint stores as JSON (the weights go beside it as tensors)."""
    step: int = 0  # optimizer steps done
    wall: float = 0.0  # wall seconds over every session so far
    cpu: float = 0.0  # CPU seconds, likewise
    losses: list[dict[str, float]] = field(default_factory=list)  # [{step, loss, tokens, seconds}]
    nll_before: list[float] = field(default_factory=list)  # held-out loss per window before the first step
    resumed_from: int = 0  # step the last resume started at (0 = never interrupted)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> PretrainLoop:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


@dataclass
class _Net:
    """The model and how to feed it: one record for the scratch and the continued paths."""
    model: Any
    forward: Callable[[Any], Any]  # x (B, T) token ids -> logits (B, T, V)
    encode: Callable[[list[str]], list[list[int]]]  # documents -> token ids, a separator before each
    bos: int | None  # forced as every window's first token (bases served with a BOS first), else None
    n_params: int
    tokenizer: Any  # the BPE trained on the corpus (scratch) or the base's HF tokenizer (continued)
    memory_gib: float  # the estimate checked before the model was built


@dataclass
class _Plan:
    steps: int  # the schedule's length (a time budget may stop earlier)
    peak_lr: float
    warmup: int  # steps of linear warm-up
    tokens_per_step: int  # batch_size * seq_len


def _scratch_net(cfg: PretrainConfig, train_texts: list[str]) -> _Net:
    """A BPE trained on the train documents and a TinyLlama of about cfg.params parameters."""
    from ladder.train.model import TinyLlama, config_for_params
    from ladder.train.tokenizer import END, train_tokenizer

    tok = train_tokenizer(train_texts, vocab_size=cfg.vocab_size)  # held-out text never shapes the vocabulary
    mcfg = config_for_params(int(cfg.params), tok.get_vocab_size(), max_seq=cfg.seq_len)
    n_params = mcfg.n_params()
    est = _check_memory(cfg, n_params, n_params, (mcfg.d_model, mcfg.n_layer, mcfg.n_head, mcfg.vocab_size))
    model = TinyLlama(mcfg)
    encode = lambda ts: [[tok.token_to_id(END)] + e.ids for e in tok.encode_batch(ts)]
    # bos None: every document starts with END already; llama.cpp adds END as BOS when serving
    return _Net(model, model, encode, None, n_params, tok, est)


def _continued_net(cfg: PretrainConfig) -> _Net:
    """The bundled base (memory checked from its config before loading), embeddings frozen if asked."""
    from transformers import AutoConfig

    from ladder.models.hf import hf_dir, load_base

    hc = AutoConfig.from_pretrained(str(hf_dir(cfg.base)))
    hc = getattr(hc, "text_config", hc)
    n_params = _hf_param_count(hc)
    trainable = n_params - hc.vocab_size * hc.hidden_size if cfg.freeze_embeddings else n_params
    est = _check_memory(cfg, n_params, trainable,
                        (hc.hidden_size, hc.num_hidden_layers, hc.num_attention_heads, hc.vocab_size))
    model, hf_tok = load_base(cfg.base)
    if cfg.freeze_embeddings:
        model.get_input_embeddings().weight.requires_grad_(False)
    forward = lambda x: model(input_ids=x).logits
    encode = lambda ts: encode_docs(hf_tok, ts)
    return _Net(model, forward, encode, bos_token(hf_tok), sum(p.numel() for p in model.parameters()), hf_tok, est)


def _check_memory(cfg: PretrainConfig, n_params: int, trainable: int, shape: tuple[int, int, int, int]) -> float:
    """Refuse a run whose estimate exceeds 90% of the free memory; the estimate in GiB. shape: (d, L, H, V)."""
    est = memory.estimate(n_params, trainable, cfg.batch_size, cfg.seq_len, d_model=shape[0], n_layer=shape[1],
                          n_head=shape[2], vocab=shape[3])
    memory.check(est, 0.9 * memory.available_gib(),
                 "lower --batch-size or --seq-len, pick a smaller --params, or use --freeze-embeddings "
                 "(the limit is 90% of the free memory)")
    return est.total


def _streams(net: _Net, train_texts: list[str], held_texts: list[str], cfg: PretrainConfig, corpus: str):
    """One packed token stream per split, (N,) long each; refused when too short for the context."""
    import torch

    train_stream = torch.tensor([t for ids in net.encode(train_texts) for t in ids], dtype=torch.long)
    held_stream = torch.tensor([t for ids in net.encode(held_texts) for t in ids], dtype=torch.long)
    need = MIN_WINDOWS * (cfg.seq_len + 1)
    if len(train_stream) < need or len(held_stream) < cfg.seq_len + 1:
        raise LadderError(
            f"{corpus}: corpus too small for --seq-len {cfg.seq_len}: {len(train_stream):,} train and "
            f"{len(held_stream):,} held-out tokens (need {need:,} and {cfg.seq_len + 1:,}); add documents or lower --seq-len"
        )
    return train_stream, held_stream


def _plan(cfg: PretrainConfig, train_tokens: int) -> _Plan:
    tokens_per_step = cfg.batch_size * cfg.seq_len
    steps = cfg.steps or max(1, min(cfg.max_default_steps, train_tokens // tokens_per_step))
    peak_lr = cfg.lr if cfg.lr is not None else (1e-3 if cfg.scratch else 5e-5)
    warmup = cfg.warmup if cfg.warmup is not None else max(1, steps // 20)
    return _Plan(steps, peak_lr, warmup, tokens_per_step)


def _optimizer(model: Any, cfg: PretrainConfig, peak_lr: float) -> tuple[Any, list[Any]]:
    """AdamW (betas 0.9/0.95) with weight decay on matrices only; also returns the trained tensors."""
    import torch

    params = [p for p in model.parameters() if p.requires_grad]
    decay = [p for p in params if p.dim() >= 2]  # no weight decay on norm gains
    no_decay = [p for p in params if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=peak_lr, betas=(0.9, 0.95))
    return opt, params


def _resume(folder: Path, fp: str, net: _Net, opt: Any, held_stream: Any, cfg: PretrainConfig) -> PretrainLoop:
    """The checkpoint's loop state (model and optimizer restored in place), or a new one scored before step 1."""
    got = checkpoint.load(folder, fp, opt)
    if got is None:
        net.model.eval()
        return PretrainLoop(nll_before=window_nll(net.forward, held_stream, cfg.seq_len, cfg.eval_tokens,
                                                  cfg.batch_size, net.bos))
    state, tensors = got
    net.model.load_state_dict(tensors["model"])
    loop = PretrainLoop.from_dict(state)
    loop.resumed_from = loop.step
    return loop


def _train(net: _Net, opt: Any, params: list[Any], stream: Any, loop: PretrainLoop, plan: _Plan,
           cfg: PretrainConfig, folder: Path, fp: str, on_step: Callable[[dict[str, Any]], None] | None) -> None:
    """Steps loop.step .. plan.steps (or until the time budget), checkpointing every cfg.checkpoint_every."""
    import torch
    import torch.nn.functional as F

    net.model.train()
    t_wall, t_cpu = time.perf_counter(), time.process_time()
    wall0, cpu0, seg_start = loop.wall, loop.cpu, loop.step
    for step in range(loop.step, plan.steps):
        lr = lr_at(step, plan.steps, plan.peak_lr, plan.warmup)
        for group in opt.param_groups:
            group["lr"] = lr
        x, y = batch_at(stream, step, cfg.batch_size, cfg.seq_len, cfg.seed, net.bos)  # (B, T) each
        logits = net.forward(x)  # (B, T, V)
        assert logits.shape[:2] == y.shape == (cfg.batch_size, cfg.seq_len), (logits.shape, y.shape)
        loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)).float(), y.reshape(-1))  # mean over B*T
        if not torch.isfinite(loss):
            raise LadderError(f"training diverged: loss {loss.item()} at step {step + 1}; lower --lr (now {plan.peak_lr:g})")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip)
        opt.step()
        done, loss_value = step + 1, loss.item()
        elapsed = time.perf_counter() - t_wall
        loop.step, loop.wall, loop.cpu = done, wall0 + elapsed, cpu0 + time.process_time() - t_cpu
        loop.losses.append({"step": done, "loss": round(loss_value, 4), "tokens": done * plan.tokens_per_step,
                            "seconds": round(loop.wall, 2)})
        if on_step:
            rate = (done - seg_start) * plan.tokens_per_step / max(elapsed, 1e-9)
            on_step({"step": done, "steps": plan.steps, "loss": loss_value, "lr": lr, "tokens_per_second": rate,
                     "eta_seconds": (plan.steps - done) * plan.tokens_per_step / max(rate, 1e-9)})
        if done % cfg.checkpoint_every == 0 and done < plan.steps:
            checkpoint.save(folder, fp, loop.to_dict(), {"model": net.model.state_dict()}, opt)
        if cfg.max_minutes is not None and loop.wall > 60 * cfg.max_minutes:
            break


def _save_model(net: _Net, cfg: PretrainConfig, out: Path) -> tuple[Path, Path]:
    """model/ in transformers' layout (with its tokenizer) and, if cfg.export, model.gguf for llama.cpp."""
    model_dir, gguf_path = out / "model", out / "model.gguf"
    if cfg.scratch:
        from ladder.train.model import export_gguf
        from ladder.train.tokenizer import save_tokenizer

        net.model.save_pretrained(model_dir)
        save_tokenizer(net.tokenizer, model_dir, model_max_length=cfg.seq_len)
        if cfg.export:
            export_gguf(net.model, net.tokenizer, gguf_path, name=out.name)
    else:
        from ladder.models.hf import export_gguf, save_hf

        save_hf(net.model, net.tokenizer, model_dir)
        if cfg.export:
            export_gguf(model_dir, gguf_path, outtype=cfg.gguf_type)
    return model_dir, gguf_path


def _hf_param_count(hc: Any) -> int:
    """Parameters of a LLaMA-family config without building it (for the memory check)."""
    d, L, V = hc.hidden_size, hc.num_hidden_layers, hc.vocab_size
    hd = getattr(hc, "head_dim", None) or d // hc.num_attention_heads
    kv = getattr(hc, "num_key_value_heads", None) or hc.num_attention_heads
    attn = 2 * d * hc.num_attention_heads * hd + 2 * d * kv * hd
    tied = getattr(hc, "tie_word_embeddings", True)
    return V * d * (1 if tied else 2) + L * (attn + 3 * d * hc.intermediate_size + 4 * d) + d

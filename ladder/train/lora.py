"""LoRA fine-tuning on CPU (or GPUs), nanoGPT-style: one config, one loop, checkpoints, resume.

    result = finetune(task, "smollm2-135m", "runs/ft1")          # a Task's train split
    result = train(pairs, "smollm2-135m", "runs/ft1", LoraConfig(epochs=2))  # any (prompt, answer) pairs

The base comes from the bundled GGUF (ladder.models.hf), the adapter is trained with
peft, then saved twice: as a PEFT folder (`adapter/`) and as a GGUF LoRA
(`adapter.gguf`) that llama.cpp applies on top of the same GGUF at inference.
Next to them: `run.json` (config, cost: wall/CPU seconds, tokens, FLOPs) and
`loss.json` (the loss curve). Under torchrun the same code runs data-parallel
(ladder.train.ddp). An interrupted run resumes from `checkpoint/`; a finished run
with the same data, base and config is returned as is.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import random
import resource
import shutil
import time
import warnings
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Callable

from ladder.errors import LadderError
from ladder.leaks import check_no_leak
from ladder.models import hf
from ladder.models.base import Usage
from ladder.task import Task, template_fields
from ladder.train import ddp, memory
from ladder.train.lora_data import (
    IGNORE,
    Pair,
    batches,
    check_data,
    collate,
    encode,
    fit_epochs,
    task_pairs,
)

RUN_VERSION = 1


@dataclass
class LoraConfig:
    rank: int = 16  # LoRA rank: 8-16 is plenty for labels and short outputs
    alpha: int = 32  # update scale alpha/rank = 2, the usual choice
    dropout: float = 0.05  # light regularisation; 0 makes runs repeat exactly across world sizes
    lr: float = 4e-4  # LoRA tolerates ~10x a full fine-tune's rate
    weight_decay: float = 0.0
    warmup: float = 0.05  # fraction of steps with linear warm-up, then linear decay to 0
    epochs: int | None = None  # None: fitted to the data size (lora_data.fit_epochs)
    max_steps: int | None = None  # cap on optimizer steps (quick looks, tests)
    max_minutes: float | None = None  # time budget: stop (keeping what was learnt) after this much training
    batch_size: int = 8  # global batch: sequences per optimizer step, over all ranks
    micro_batch: int | None = None  # sequences per forward pass; None: the largest that fits in memory
    max_len: int | None = None  # None: the longest example (rounded up to 8)
    eval_every: int | None = None  # steps between dev evaluations; None: 4 per epoch
    patience: int = 3  # dev evaluations without improvement before stopping early
    save_every: int = 25  # steps between checkpoints
    min_examples: int = 8  # fewer than this: few-shot is the better rung
    max_examples: int | None = None  # None: the whole train split; else a seeded sample of it (time budget)
    max_memory_gb: float | None = None  # None: 90% of the memory available now
    target_modules: str = "all-linear"
    seed: int = 0
    n_ctx: int = 4096  # the context llama.cpp serves with; longer examples are refused
    dev_limit: int = 256  # dev examples scored at each evaluation
    grad_clip: float = 1.0

    @classmethod
    def from_options(cls, options: dict[str, Any] | None) -> "LoraConfig":
        names = {f.name for f in fields(cls)}
        opts = {k.replace("-", "_"): v for k, v in (options or {}).items() if v is not None}
        unknown = sorted(set(opts) - names)
        if unknown:
            raise LadderError(f"unknown fine-tuning option '{unknown[0]}'; choose from: {', '.join(sorted(names))}")
        return cls(**opts)


@dataclass
class TrainResult:
    out: Path
    usage: Usage  # wall and CPU seconds (all ranks), tokens seen (tokens_in)
    flops: float  # ~6 x params x tokens
    steps: int
    curve: list[dict[str, Any]]
    config: dict[str, Any]
    base: dict[str, Any]
    best_dev_loss: float | None = None
    stopped_early: bool = False
    peak_memory_gib: float = 0.0
    meta: dict[str, Any] = field(default_factory=dict)
    reused: bool = False  # loaded from a finished run instead of trained now

    @property
    def adapter(self) -> Path:
        return self.out / "adapter"

    @property
    def gguf(self) -> Path | None:
        p = self.out / "adapter.gguf"
        return p if p.exists() else None

    def to_dict(self) -> dict[str, Any]:
        d = {k: v for k, v in asdict(self).items() if k not in ("out", "curve", "usage")}
        return {"version": RUN_VERSION, **d, "usage": self.usage.to_dict(), "out": str(self.out),
                "final_loss": self.curve[-1]["loss"] if self.curve else None}

    @classmethod
    def load(cls, out: str | Path) -> "TrainResult":
        out = Path(out)
        d = json.loads((out / "run.json").read_text())
        curve = json.loads((out / "loss.json").read_text())["curve"]
        keep = {f.name for f in fields(cls)} - {"out", "usage", "curve"}
        keep.discard("reused")
        return cls(out=out, usage=Usage.from_dict(d["usage"]), curve=curve, reused=True,
                   **{k: d[k] for k in keep if k in d})


def finetune(task: Task, base: str, out: str | Path, config: LoraConfig | None = None, **kw: Any) -> TrainResult:
    """Train on the task's train split (dev split for early stopping); never on test examples."""
    cfg = config or LoraConfig()
    examples = task.train
    if cfg.max_examples and cfg.max_examples < len(examples):
        picked = sorted(random.Random(cfg.seed).sample(range(len(examples)), cfg.max_examples))
        examples = [examples[i] for i in picked]
    inputs = template_fields(task.input, task.source, "input")
    check_no_leak(task.test, examples, "fine-tuning data", inputs)
    check_no_leak(task.test, task.dev, "dev examples used for early stopping", inputs)
    meta = {"task": task.name, "task_fingerprint": task.fingerprint(), "n_train_split": len(task.train)}
    return train(task_pairs(task, examples), base, out, cfg, dev=task_pairs(task, task.dev, "dev"),
                 source=task.source, meta=meta, **kw)


def fingerprint(pairs: list[Pair], dev: list[Pair], base_fp: str, cfg: LoraConfig, world_size: int) -> str:
    blob = json.dumps([[p.messages, p.answer] for p in pairs], ensure_ascii=False)
    blob += json.dumps([[p.messages, p.answer] for p in dev], ensure_ascii=False)
    blob += json.dumps([base_fp, asdict(cfg), world_size, RUN_VERSION], sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def train(pairs: list[Pair], base: str, out: str | Path, config: LoraConfig | None = None, *,
          dev: list[Pair] | None = None, source: str = "training data", meta: dict[str, Any] | None = None,
          progress: bool = True, export_gguf: bool = True,
          callback: Callable[[int, float], None] | None = None) -> TrainResult:
    import torch

    t0, c0 = time.perf_counter(), time.process_time()
    world = ddp.setup()
    cfg, dev, out = config or LoraConfig(), dev or [], Path(out)
    ref = hf.resolve_base(base)
    fp = fingerprint(pairs, dev, ref.fingerprint, cfg, world.size)
    if (out / "run.json").exists():
        done = TrainResult.load(out)
        if done.meta.get("fingerprint") == fp:
            return done
        raise LadderError(f"{out} holds a finished run for other data or settings; choose a new --out or delete it")
    if world.distributed:
        torch.set_num_threads(max(1, (os.cpu_count() or 2) // int(os.environ.get("LOCAL_WORLD_SIZE", world.size))))
    random.seed(cfg.seed)
    torch.manual_seed(cfg.seed)
    warnings.filterwarnings("ignore", category=FutureWarning, module="transformers")

    model, tok = hf.load_base(base)
    n_ctx = min(cfg.n_ctx, getattr(model.config, "max_position_embeddings", cfg.n_ctx) or cfg.n_ctx)
    data = [encode(tok, p) for p in pairs]
    max_len = check_data(data, pairs, cfg.min_examples, cfg.max_len, n_ctx, source)
    dev_data = [e for e in (encode(tok, p) for p in dev[: cfg.dev_limit]) if len(e[0]) <= max_len]
    if cfg.batch_size < world.size:
        raise LadderError(f"batch_size {cfg.batch_size} is smaller than the {world.size} processes; raise --batch-size")
    epochs = cfg.epochs or fit_epochs(len(data), cfg.batch_size)
    plan = [_epoch_batches(len(data), cfg, e, world.size) for e in range(epochs)]
    total = sum(len(p) for p in plan) if cfg.max_steps is None else min(cfg.max_steps, sum(len(p) for p in plan))
    eval_every = cfg.eval_every or max(1, len(plan[0]) // 4)

    from peft import LoraConfig as PeftLoraConfig
    from peft import get_peft_model

    model = get_peft_model(model, PeftLoraConfig(r=cfg.rank, lora_alpha=cfg.alpha, lora_dropout=cfg.dropout,
                                                 target_modules=cfg.target_modules, task_type="CAUSAL_LM"))
    model.to(ddp.device(world))
    params = sum(p.numel() for p in model.parameters())
    trainable = [p for p in model.parameters() if p.requires_grad]
    answer = max(sum(1 for y in lab if y != IGNORE) for _, lab in data)
    micro = _micro_batch(cfg, model.config, params, sum(p.numel() for p in trainable), max_len, answer, world)
    fitted = {**asdict(cfg), "epochs": epochs, "max_len": max_len, "micro_batch": micro, "eval_every": eval_every,
              "total_steps": total, "world_size": world.size, "backend": world.backend or "single"}
    net = ddp.wrap(model, world)
    opt = torch.optim.AdamW(trainable, lr=cfg.lr, weight_decay=cfg.weight_decay)
    warm = max(1, int(cfg.warmup * total))
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min((s + 1) / warm, max(0.0, (total - s) / max(1, total - warm))))

    st = {"step": 0, "tokens": 0, "curve": [], "best_dev": None, "best_step": 0, "bad": 0, "wall": 0.0, "cpu": 0.0,
          "stopped_early": False}
    ckpt = out / "checkpoint"
    best_state: dict[str, Any] | None = None
    if _ckpt_dir(ckpt):
        st, best_state = _load_checkpoint(_ckpt_dir(ckpt), fp, model, opt, sched, out)
    bar = _Progress(total, progress and world.main, done=st["step"])

    def save(collective: bool = True) -> None:
        # CPU seconds of all ranks; after an interrupt no collective call (a peer may be gone): rank 0's x size
        cpu = time.process_time() - c0
        cpu = ddp.all_sum([cpu], world)[0] if collective else cpu * world.size
        if world.main:
            _save_checkpoint(ckpt, fp, {**st, "wall": st["wall"] + time.perf_counter() - t0, "cpu": st["cpu"] + cpu},
                             model, opt, best_state)
        if collective:
            ddp.barrier(world)

    try:
        step = 0
        for epoch, epoch_batches in enumerate(plan):
            for batch in epoch_batches:
                step += 1
                if step <= st["step"]:  # already done before the interruption
                    continue
                if step > total or st["stopped_early"]:
                    break
                loss, n_tok = _step(net, model, opt, sched, [data[i] for i in ddp.shard(batch, world)],
                                    micro, tok.pad_token_id, world, cfg.grad_clip)
                st["step"], st["tokens"] = step, st["tokens"] + n_tok
                elapsed = st["wall"] + time.perf_counter() - t0
                point = {"step": step, "epoch": epoch + 1, "loss": round(loss, 5), "lr": sched.get_last_lr()[0],
                         "tokens": st["tokens"], "seconds": round(elapsed, 3),
                         "cpu_seconds": round(st["cpu"] + time.process_time() - c0, 3)}  # this rank's
                if dev_data and (step % eval_every == 0 or step == total):
                    point["dev_loss"] = round(_dev_loss(model, dev_data, micro, tok.pad_token_id, world), 5)
                    if st["best_dev"] is None or point["dev_loss"] < st["best_dev"]:
                        st["best_dev"], st["best_step"], st["bad"] = point["dev_loss"], step, 0
                        best_state = {k: v.detach().clone() for k, v in _lora_state(model).items()}
                    else:
                        st["bad"] += 1
                        st["stopped_early"] = ddp.broadcast_flag(st["bad"] >= cfg.patience, world)
                st["curve"].append(point)
                bar.update(step, loss)
                if callback:
                    callback(step, loss)
                if step % cfg.save_every == 0:
                    save()
                if cfg.max_minutes is not None:
                    out_of_time = elapsed > 60 * cfg.max_minutes
                    st["out_of_time"] = ddp.broadcast_flag(out_of_time, world)
                    st["stopped_early"] = st["stopped_early"] or st["out_of_time"]
    except KeyboardInterrupt:
        save(collective=False)
        bar.close()
        raise
    bar.close()
    if best_state is not None:  # early stopping keeps the best dev checkpoint, not the last
        model.load_state_dict(best_state, strict=False)

    wall, cpu = ddp.all_sum([time.perf_counter() - t0, time.process_time() - c0], world)
    wall = st["wall"] + wall / world.size
    usage = Usage(tokens_in=st["tokens"], tokens_out=0, seconds=wall, cpu_seconds=st["cpu"] + cpu)
    peak = ddp.all_sum([resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 ** 2], world)[0]
    base_info = {"spec": str(base), "name": ref.name, "fingerprint": ref.fingerprint,
                 "gguf": str(ref.gguf) if ref.gguf else None, "params": params}
    result = TrainResult(out, usage, 6.0 * params * st["tokens"], st["step"], st["curve"], fitted, base_info,
                         st["best_dev"], st["stopped_early"], round(peak, 3),
                         {**(meta or {}), "fingerprint": fp, "n_train": len(pairs), "n_dev": len(dev_data),
                          "best_step": st["best_step"], "out_of_time": st.get("out_of_time", False)})
    if world.main:
        _write_run(result, model, ref, export_gguf)
        shutil.rmtree(ckpt, ignore_errors=True)
    ddp.barrier(world)
    return result


# ----------------------------------------------------------------- the loop's pieces


def _epoch_batches(n: int, cfg: LoraConfig, epoch: int, world_size: int) -> list[list[int]]:
    """Seeded shuffle per epoch (so a resumed run sees the same order); every rank gets >= 1 sequence."""
    import torch

    order = torch.randperm(n, generator=torch.Generator().manual_seed(cfg.seed * 1000 + epoch)).tolist()
    return [b for b in batches(order, cfg.batch_size) if len(b) >= world_size]


def _micro_batch(cfg: LoraConfig, mconf: Any, params: int, trainable: int, max_len: int, max_answer: int,
                 world: ddp.World) -> int:
    """The largest micro-batch whose estimate fits; refuse with the numbers when even 1 does not."""
    per_rank = math.ceil(cfg.batch_size / world.size)
    local = int(os.environ.get("LOCAL_WORLD_SIZE", world.size))
    limit = cfg.max_memory_gb or 0.9 * memory.available_gib() / local
    shape = dict(d_model=mconf.hidden_size, n_layer=mconf.num_hidden_layers, n_head=mconf.num_attention_heads,
                 vocab=mconf.vocab_size, logit_positions=max_answer)
    micro = min(cfg.micro_batch or per_rank, per_rank)
    est = memory.estimate(params, trainable, micro, max_len, **shape)
    while not cfg.micro_batch and micro > 1 and est.total > limit:
        micro = max(1, micro // 2)
        est = memory.estimate(params, trainable, micro, max_len, **shape)
    smaller = "lower --micro-batch or " if micro > 1 else ""
    memory.check(est, limit, f"at micro-batch {micro} x {max_len} tokens, {smaller}lower --max-len "
                             "(the limit is --max-memory, by default 90% of the free memory)")
    return micro


def _token_loss(model: Any, ids: Any, mask: Any, labels: Any) -> Any:
    """Summed cross-entropy over answer tokens. ids/mask/labels: [batch, length].

    Only the positions that predict an answer token go through the vocabulary projection
    (`logits_to_keep` as a boolean mask): the prompt's logits would be thrown away anyway, and
    the projection onto a 49k-151k vocabulary is a fifth of a small model's compute. A model
    class that does not take the mask returns all logits, and those are masked here instead.
    """
    import torch.nn.functional as F

    target = labels[:, 1:]
    answer = target != IGNORE
    keep = F.pad(answer, (0, 1))  # position t predicts token t + 1
    logits = None
    if not getattr(model, "_ladder_all_logits", False):
        try:
            logits = model(input_ids=ids, attention_mask=mask, logits_to_keep=keep).logits
        except (TypeError, IndexError):
            model._ladder_all_logits = True  # remembered: one failed forward, not one per step
    if logits is None:
        logits = model(input_ids=ids, attention_mask=mask).logits
    if logits.dim() == 3:  # every position came back
        logits = logits[keep]
    return F.cross_entropy(logits.float(), target[answer], reduction="sum")


def _step(net: Any, model: Any, opt: Any, sched: Any, rows: list[tuple[list[int], list[int]]], micro: int,
          pad_id: int, world: ddp.World, clip: float) -> tuple[float, int]:
    """One optimizer step over this rank's rows; returns (mean loss per answer token over all ranks, tokens)."""
    import contextlib

    import torch

    model.train()
    dev = ddp.device(world)
    n_label, n_tok = ddp.all_sum([sum(sum(1 for y in lab[1:] if y != IGNORE) for _, lab in rows),
                                  sum(len(ids) for ids, _ in rows)], world)
    chunks = [rows[i: i + micro] for i in range(0, len(rows), micro)]
    total = 0.0
    for i, chunk in enumerate(chunks):
        ids, mask, labels = (t.to(dev) for t in collate(chunk, pad_id))
        # DDP averages gradients over ranks; scaling by size/n_label makes the update the
        # gradient of (summed loss / answer tokens of the whole global batch), as in one process.
        sync = contextlib.nullcontext() if i == len(chunks) - 1 or net is model else net.no_sync()
        with sync:
            loss = _token_loss(net, ids, mask, labels)
            (loss * world.size / max(1.0, n_label)).backward()
        total += loss.item()
    torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], clip)
    opt.step()
    sched.step()
    opt.zero_grad(set_to_none=True)
    return ddp.all_sum([total], world)[0] / max(1.0, n_label), int(n_tok)


def _dev_loss(model: Any, rows: list[tuple[list[int], list[int]]], micro: int, pad_id: int, world: ddp.World) -> float:
    import torch

    model.eval()
    mine = ddp.shard(rows, world)
    total, n = 0.0, 0
    with torch.no_grad():
        for i in range(0, len(mine), micro):
            chunk = mine[i: i + micro]
            ids, mask, labels = (t.to(ddp.device(world)) for t in collate(chunk, pad_id))
            total += _token_loss(model, ids, mask, labels).item()
            n += int((labels[:, 1:] != IGNORE).sum())
    total, n = ddp.all_sum([total, n], world)
    return total / max(1.0, n)


def _lora_state(model: Any) -> dict[str, Any]:
    return {k: v for k, v in model.named_parameters() if v.requires_grad}


class _Progress:
    """A rich progress bar with loss and ETA (a no-op when disabled or on ranks > 0)."""

    def __init__(self, total: int, enabled: bool, done: int = 0):
        self.p = None
        if enabled:
            from rich.progress import (
                BarColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self.p = Progress(TextColumn("fine-tuning"), BarColumn(), TextColumn("{task.completed}/{task.total} steps"),
                              TextColumn("loss {task.fields[loss]}"), TimeElapsedColumn(), TextColumn("ETA"),
                              TimeRemainingColumn())
            self.p.start()
            self.task = self.p.add_task("train", total=total, completed=done, loss="-")

    def update(self, step: int, loss: float) -> None:
        if self.p:
            self.p.update(self.task, completed=step, loss=f"{loss:.4f}")

    def close(self) -> None:
        if self.p:
            self.p.stop()
            self.p = None


# ----------------------------------------------------------------- files

from ladder.train.lora_files import (  # noqa: E402
    _ckpt_dir,
    _load_checkpoint,
    _save_checkpoint,
    _write_run,
)

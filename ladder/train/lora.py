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
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from ladder.errors import LadderError
from ladder.leaks import check_no_leak
from ladder.models import hf
from ladder.models.base import Usage
from ladder.task import Task, template_fields
from ladder.train import checkpoint, ddp, memory
from ladder.train.lora_data import (
    IGNORE,
    Pair,
    batches,
    check_data,
    encode,
    fit_epochs,
    task_pairs,
)
from ladder.train.lora_files import (
    RUN_VERSION,
    LoopState,
    TrainResult,
    load_checkpoint,
    save_checkpoint,
    write_run,
)
from ladder.train.lora_step import dev_loss as _dev_loss
from ladder.train.lora_step import step as _step
from ladder.train.lora_step import token_loss as _token_loss  # noqa: F401  (tests and bench/train_finetune.py)

__all__ = ["LoopState", "LoraConfig", "TrainResult", "finetune", "fingerprint", "train"]


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
    def from_options(cls, options: dict[str, Any] | None) -> LoraConfig:
        names = {f.name for f in fields(cls)}
        opts = {k.replace("-", "_"): v for k, v in (options or {}).items() if v is not None}
        unknown = sorted(set(opts) - names)
        if unknown:
            raise LadderError(f"unknown fine-tuning option '{unknown[0]}'; choose from: {', '.join(sorted(names))}")
        return cls(**opts)


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
    """Fine-tune `base` on the pairs (dev pairs for early stopping); resumes from out/checkpoint."""
    clock = _Clock()
    world = ddp.setup()
    cfg, dev, out = config or LoraConfig(), dev or [], Path(out)
    ref = hf.resolve_base(base)
    fp = fingerprint(pairs, dev, ref.fingerprint, cfg, world.size)
    if (out / "run.json").exists():
        return _finished(out, fp)
    _seed(cfg, world)
    run = _setup(pairs, dev, base, cfg, world, source)
    opt, sched = _optimizer(run.model, cfg, run.total)
    s = _Session(cfg, world, run, opt, sched, out / "checkpoint", fp, clock)
    loop = load_checkpoint(s.ckpt, fp, run.model, opt, sched) or LoopState()
    bar = _Progress(run.total, progress and world.main, done=loop.step)
    try:
        _loop(s, loop, bar, callback)
    except KeyboardInterrupt:
        _save(s, loop, collective=False)
        bar.close()
        raise
    bar.close()
    if loop.best_weights is not None:  # early stopping keeps the best dev checkpoint, not the last
        run.model.load_state_dict(loop.best_weights, strict=False)
    result = _result(s, loop, ref, base, len(pairs), meta)
    if world.main:
        write_run(result, run.model, ref, export_gguf)
        checkpoint.discard(s.ckpt)
    ddp.barrier(world)
    return result


# ----------------------------------------------------------------- setup


@dataclass
class _Clock:
    """This session's seconds (earlier sessions' are in LoopState.wall/cpu)."""
    t0: float = field(default_factory=time.perf_counter)
    c0: float = field(default_factory=time.process_time)

    def wall(self) -> float:
        return time.perf_counter() - self.t0

    def cpu(self) -> float:  # this rank's
        return time.process_time() - self.c0


@dataclass
class _Run:
    """What setup hands to the loop: the model, its data and the fitted plan."""
    model: Any  # the PEFT model on this rank's device
    net: Any  # the same model wrapped for DDP when distributed (the training forward goes through it)
    tok: Any
    data: list[tuple[list[int], list[int]]]  # (ids, labels) per pair; labels are IGNORE on the prompt
    dev_data: list[tuple[list[int], list[int]]]  # the first cfg.dev_limit dev pairs that fit in max_len
    plan: list[list[list[int]]]  # [epoch][batch] -> indices into data (a global batch)
    total: int  # optimizer steps to take
    eval_every: int  # steps between dev evaluations
    micro: int  # sequences per forward pass
    params: int  # all parameters, base included (FLOPs)
    fitted: dict[str, Any]  # the config as run (run.json)


@dataclass
class _Session:
    """What the loop reads but never changes."""
    cfg: LoraConfig
    world: ddp.World
    run: _Run
    opt: Any
    sched: Any
    ckpt: Path
    fp: str
    clock: _Clock


def _finished(out: Path, fp: str) -> TrainResult:
    done = TrainResult.load(out)
    if done.meta.get("fingerprint") == fp:
        return done
    raise LadderError(f"{out} holds a finished run for other data or settings; choose a new --out or delete it")


def _seed(cfg: LoraConfig, world: ddp.World) -> None:
    import torch

    if world.distributed:  # share the machine's cores between the local ranks
        torch.set_num_threads(max(1, (os.cpu_count() or 2) // int(os.environ.get("LOCAL_WORLD_SIZE", world.size))))
    random.seed(cfg.seed)
    torch.manual_seed(cfg.seed)
    warnings.filterwarnings("ignore", category=FutureWarning, module="transformers")


def _setup(pairs: list[Pair], dev: list[Pair], base: str, cfg: LoraConfig, world: ddp.World, source: str) -> _Run:
    """Load the base, encode and check the data, plan the epochs, add the LoRA layers, fit the micro-batch."""
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
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    answer = max(sum(1 for y in lab if y != IGNORE) for _, lab in data)  # longest answer: logits kept per row
    micro = _micro_batch(cfg, model.config, params, trainable, max_len, answer, world)
    fitted = {**asdict(cfg), "epochs": epochs, "max_len": max_len, "micro_batch": micro, "eval_every": eval_every,
              "total_steps": total, "world_size": world.size, "backend": world.backend or "single"}
    return _Run(model, ddp.wrap(model, world), tok, data, dev_data, plan, total, eval_every, micro, params, fitted)


def _optimizer(model: Any, cfg: LoraConfig, total: int) -> tuple[Any, Any]:
    """AdamW over the LoRA tensors; linear warm-up over cfg.warmup of the steps, then linear decay to 0."""
    import torch

    trainable = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(trainable, lr=cfg.lr, weight_decay=cfg.weight_decay)
    warm = max(1, int(cfg.warmup * total))
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min((s + 1) / warm, max(0.0, (total - s) / max(1, total - warm))))
    return opt, sched


# ----------------------------------------------------------------- the loop


def _loop(s: _Session, loop: LoopState, bar: _Progress, callback: Callable[[int, float], None] | None) -> None:
    """Take the planned steps after loop.step; stop at the step cap, by patience or by the time budget."""
    cfg, run, world = s.cfg, s.run, s.world
    assert loop.step <= run.total, "the fingerprint covers the plan, so a checkpoint cannot be past its end"
    step = 0
    for epoch, epoch_batches in enumerate(run.plan):
        for batch in epoch_batches:
            step += 1
            if step <= loop.step:  # already done before the interruption
                continue
            if step > run.total or loop.stopped_early:
                break
            loss, n_tok = _step(run.net, run.model, s.opt, s.sched, [run.data[i] for i in ddp.shard(batch, world)],
                                run.micro, run.tok.pad_token_id, world, cfg.grad_clip)
            loop.step, loop.tokens = step, loop.tokens + n_tok
            elapsed = loop.wall + s.clock.wall()
            point = {"step": step, "epoch": epoch + 1, "loss": round(loss, 5), "lr": s.sched.get_last_lr()[0],
                     "tokens": loop.tokens, "seconds": round(elapsed, 3),
                     "cpu_seconds": round(loop.cpu + s.clock.cpu(), 3)}  # this rank's
            if run.dev_data and (step % run.eval_every == 0 or step == run.total):
                _evaluate(s, loop, point)
            loop.curve.append(point)
            bar.update(step, loss)
            if callback:
                callback(step, loss)
            if step % cfg.save_every == 0:
                _save(s, loop)
            if cfg.max_minutes is not None:  # every rank stops at the same step (rank 0's clock decides)
                loop.out_of_time = ddp.broadcast_flag(elapsed > 60 * cfg.max_minutes, world)
                loop.stopped_early = loop.stopped_early or loop.out_of_time


def _evaluate(s: _Session, loop: LoopState, point: dict[str, Any]) -> None:
    """Dev loss at this step: keep the best weights, count evaluations without improvement."""
    run = s.run
    point["dev_loss"] = round(_dev_loss(run.model, run.dev_data, run.micro, run.tok.pad_token_id, s.world), 5)
    if loop.best_dev is None or point["dev_loss"] < loop.best_dev:
        loop.best_dev, loop.best_step, loop.bad = point["dev_loss"], loop.step, 0
        loop.best_weights = {k: v.detach().clone() for k, v in _lora_state(run.model).items()}
    else:
        loop.bad += 1
        loop.stopped_early = ddp.broadcast_flag(loop.bad >= s.cfg.patience, s.world)


def _save(s: _Session, loop: LoopState, collective: bool = True) -> None:
    """Checkpoint on rank 0 with the seconds so far; the others wait at the barrier."""
    # CPU seconds of all ranks; after an interrupt no collective call (a peer may be gone): rank 0's x size
    cpu = s.clock.cpu()
    cpu = ddp.all_sum([cpu], s.world)[0] if collective else cpu * s.world.size
    if s.world.main:
        state = {**loop.to_dict(), "wall": loop.wall + s.clock.wall(), "cpu": loop.cpu + cpu}
        save_checkpoint(s.ckpt, s.fp, state, s.run.model, s.opt, loop.best_weights)
    if collective:
        ddp.barrier(s.world)


def _result(s: _Session, loop: LoopState, ref: Any, base: str, n_pairs: int,
            meta: dict[str, Any] | None) -> TrainResult:
    """Cost over all ranks and sessions, and what run.json records."""
    world, run = s.world, s.run
    wall, cpu = ddp.all_sum([s.clock.wall(), s.clock.cpu()], world)
    wall = loop.wall + wall / world.size
    usage = Usage(tokens_in=loop.tokens, tokens_out=0, seconds=wall, cpu_seconds=loop.cpu + cpu)
    peak = ddp.all_sum([resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 ** 2], world)[0]
    base_info = {"spec": str(base), "name": ref.name, "fingerprint": ref.fingerprint,
                 "gguf": str(ref.gguf) if ref.gguf else None, "params": run.params}
    return TrainResult(s.ckpt.parent, usage, 6.0 * run.params * loop.tokens, loop.step, loop.curve, run.fitted,
                       base_info, loop.best_dev, loop.stopped_early, round(peak, 3),
                       {**(meta or {}), "fingerprint": s.fp, "n_train": n_pairs, "n_dev": len(run.dev_data),
                        "best_step": loop.best_step, "out_of_time": loop.out_of_time})


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
    shape = {"d_model": mconf.hidden_size, "n_layer": mconf.num_hidden_layers, "n_head": mconf.num_attention_heads,
             "vocab": mconf.vocab_size, "logit_positions": max_answer}
    micro = min(cfg.micro_batch or per_rank, per_rank)
    est = memory.estimate(params, trainable, micro, max_len, **shape)
    while not cfg.micro_batch and micro > 1 and est.total > limit:
        micro = max(1, micro // 2)
        est = memory.estimate(params, trainable, micro, max_len, **shape)
    smaller = "lower --micro-batch or " if micro > 1 else ""
    memory.check(est, limit, f"at micro-batch {micro} x {max_len} tokens, {smaller}lower --max-len "
                             "(the limit is --max-memory, by default 90% of the free memory)")
    return micro


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

"""The files of a LoRA run: the loop state its checkpoints store, and the finished run.

    out/
      checkpoint/     ladder.train.checkpoint's format: groups lora, rng and best (dev weights), LoopState as JSON
      adapter/        PEFT adapter (adapter_config.json + adapter_model.safetensors)
      adapter.gguf    the same adapter as a GGUF LoRA for llama.cpp
      loss.json       {"curve": [{step, epoch, loss, lr, tokens, dev_loss?}, ...]}
      run.json        config (fitted), base, usage, FLOPs, steps, early stopping  (TrainResult)

Tensors go to safetensors and everything else to JSON: no pickle. Every write
goes to a temporary name first and is renamed into place.
"""
from __future__ import annotations

import json
import warnings
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from ladder.errors import LadderError
from ladder.manifest import atomic_dir, atomic_file
from ladder.models.base import Usage
from ladder.train import checkpoint

RUN_VERSION = 1


@dataclass
class LoopState:
    """The training loop's counters: what a checkpoint stores as JSON (the weights go beside it as tensors)."""
    step: int = 0  # optimizer steps done (every rank takes the same steps)
    tokens: int = 0  # tokens seen over all ranks, prompts included
    curve: list[dict[str, Any]] = field(default_factory=list)  # one point per step: loss, lr, dev_loss when scored
    best_dev: float | None = None  # lowest dev loss so far
    best_step: int = 0
    bad: int = 0  # dev evaluations since the best one (early stopping at cfg.patience)
    wall: float = 0.0  # wall seconds of the sessions before this one (a resumed run adds on)
    cpu: float = 0.0  # CPU seconds of all ranks in those sessions
    stopped_early: bool = False  # by patience or by the time budget
    out_of_time: bool = False  # the time budget ran out
    best_weights: dict[str, Any] | None = field(default=None, repr=False, compare=False)  # LoRA tensors at best_dev

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "best_weights"}

    @classmethod
    def from_dict(cls, d: dict[str, Any], best_weights: dict[str, Any] | None = None) -> LoopState:
        names = {f.name for f in fields(cls)} - {"best_weights"}
        return cls(**{k: v for k, v in d.items() if k in names}, best_weights=best_weights)


def save_checkpoint(folder: Path, fp: str, state: dict[str, Any], model: Any, opt: Any,
                    best: dict[str, Any] | None) -> None:
    """The trainable (LoRA) tensors, the optimizer, torch's RNG and the best dev weights, with `state`."""
    import torch

    tensors = {"lora": {k: v for k, v in model.named_parameters() if v.requires_grad},
               "rng": {"torch": torch.get_rng_state()}}
    if best is not None:
        tensors["best"] = best
    checkpoint.save(folder, fp, state, tensors, opt)


def load_checkpoint(folder: Path, fp: str, model: Any, opt: Any, sched: Any) -> LoopState | None:
    """Restore LoRA weights, optimizer, schedule and RNG; the loop state (with the best dev weights), or None."""
    import torch

    got = checkpoint.load(folder, fp, opt)
    if got is None:
        return None
    state, tensors = got
    lora = tensors["lora"]
    missing = {k for k, v in model.named_parameters() if v.requires_grad} - set(lora)
    if missing:
        raise LadderError(f"{folder}: checkpoint lacks {len(missing)} adapter tensors; delete it to start over")
    model.load_state_dict(lora, strict=False)
    with warnings.catch_warnings():  # replaying the schedule without optimizer steps is the point here
        warnings.simplefilter("ignore", UserWarning)
        for _ in range(state["step"]):
            sched.step()
    torch.set_rng_state(tensors["rng"]["torch"])
    return LoopState.from_dict(state, tensors.get("best"))


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
    def load(cls, out: str | Path) -> TrainResult:
        out = Path(out)
        d = json.loads((out / "run.json").read_text())
        curve = json.loads((out / "loss.json").read_text())["curve"]
        keep = {f.name for f in fields(cls)} - {"out", "usage", "curve"}
        keep.discard("reused")
        return cls(out=out, usage=Usage.from_dict(d["usage"]), curve=curve, reused=True,
                   **{k: d[k] for k in keep if k in d})


def _write_json(path: Path, obj: Any) -> None:
    with atomic_file(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=1))


def write_run(result: TrainResult, model: Any, ref: Any, export_gguf: bool) -> None:
    """Adapter folder, GGUF LoRA (when the base has a GGUF), loss curve, and run.json last."""
    from ladder.models import hf

    out: Path = result.out
    with atomic_dir(out / "adapter") as tmp:
        model.save_pretrained(str(tmp))
    if export_gguf and ref.gguf is not None:
        hf.export_lora_gguf(out / "adapter", hf.hf_dir(result.base["spec"]), out / "adapter.gguf")
    _write_json(out / "loss.json", {"curve": result.curve})
    _write_json(out / "run.json", result.to_dict())

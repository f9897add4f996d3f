"""The files of a LoRA run: checkpoints to resume from, and the finished run.

    out/
      checkpoint/     lora.safetensors, optim.safetensors, rng.safetensors, best.safetensors, state.json
      adapter/        PEFT adapter (adapter_config.json + adapter_model.safetensors)
      adapter.gguf    the same adapter as a GGUF LoRA for llama.cpp
      loss.json       {"curve": [{step, epoch, loss, lr, tokens, dev_loss?}, ...]}
      run.json        config (fitted), base, usage, FLOPs, steps, early stopping

Tensors go to safetensors and everything else to JSON: no pickle. Every write
goes to a temporary name first and is renamed into place.
"""
from __future__ import annotations

import json
import os
import shutil
import warnings
from pathlib import Path
from typing import Any

from ladder.errors import LadderError

CKPT_VERSION = 1


def _ckpt_dir(ckpt: Path) -> Path | None:
    """The checkpoint to resume from, if any (the previous one survives a crash during a save)."""
    for d in (ckpt, ckpt.with_name(ckpt.name + ".old")):
        if (d / "state.json").exists():
            return d
    return None


def _save_checkpoint(ckpt: Path, fp: str, state: dict[str, Any], model: Any, opt: Any,
                     best: dict[str, Any] | None) -> None:
    import torch
    from safetensors.torch import save_file

    new, old = ckpt.with_name(ckpt.name + ".new"), ckpt.with_name(ckpt.name + ".old")
    shutil.rmtree(new, ignore_errors=True)
    new.mkdir(parents=True)
    lora = {k: v.detach().contiguous() for k, v in model.named_parameters() if v.requires_grad}
    save_file(lora, str(new / "lora.safetensors"))
    if best is not None:
        save_file({k: v.contiguous() for k, v in best.items()}, str(new / "best.safetensors"))
    sd = opt.state_dict()
    tensors = {f"{i}.{name}": (t if torch.is_tensor(t) else torch.tensor(t)).contiguous()
               for i, s in sd["state"].items() for name, t in s.items()}
    save_file(tensors, str(new / "optim.safetensors"))
    save_file({"torch": torch.get_rng_state()}, str(new / "rng.safetensors"))
    (new / "state.json").write_text(json.dumps({"version": CKPT_VERSION, "fingerprint": fp, **state,
                                                "param_groups": sd["param_groups"]}))
    shutil.rmtree(old, ignore_errors=True)
    if ckpt.exists():
        os.replace(ckpt, old)
    os.replace(new, ckpt)
    shutil.rmtree(old, ignore_errors=True)


def _load_checkpoint(ckpt: Path, fp: str, model: Any, opt: Any, sched: Any, out: Path) -> tuple[dict, dict | None]:
    """Restore LoRA weights, optimizer, schedule and RNG; returns (loop state, best dev weights)."""
    import torch
    from safetensors.torch import load_file

    state = json.loads((ckpt / "state.json").read_text())
    if state.get("fingerprint") != fp:
        raise LadderError(f"{out}/checkpoint was written for other data or settings; "
                          "choose a new --out, or delete the checkpoint to start over")
    lora = load_file(str(ckpt / "lora.safetensors"))
    missing = set(k for k, v in model.named_parameters() if v.requires_grad) - set(lora)
    if missing:
        raise LadderError(f"{ckpt}: checkpoint lacks {len(missing)} adapter tensors; delete it to start over")
    model.load_state_dict(lora, strict=False)
    flat = load_file(str(ckpt / "optim.safetensors"))
    per: dict[int, dict[str, Any]] = {}
    for key, t in flat.items():
        i, name = key.split(".", 1)
        per.setdefault(int(i), {})[name] = t
    opt.load_state_dict({"state": per, "param_groups": state.pop("param_groups")})
    with warnings.catch_warnings():  # replaying the schedule without optimizer steps is the point here
        warnings.simplefilter("ignore", UserWarning)
        for _ in range(state["step"]):
            sched.step()
    torch.set_rng_state(load_file(str(ckpt / "rng.safetensors"))["torch"])
    best = load_file(str(ckpt / "best.safetensors")) if (ckpt / "best.safetensors").exists() else None
    return state, best


def _write_json(path: Path, obj: Any) -> None:
    tmp = path.with_name(path.name + ".part")
    tmp.write_text(json.dumps(obj, indent=1))
    os.replace(tmp, path)


def _write_run(result: Any, model: Any, ref: Any, export_gguf: bool) -> None:
    """Adapter folder, GGUF LoRA (when the base has a GGUF), loss curve, and run.json last."""
    from ladder.models import hf

    out: Path = result.out
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / "adapter.part"
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(str(tmp))
    shutil.rmtree(out / "adapter", ignore_errors=True)
    os.replace(tmp, out / "adapter")
    if export_gguf and ref.gguf is not None:
        hf.export_lora_gguf(out / "adapter", hf.hf_dir(result.base["spec"]), out / "adapter.gguf")
    _write_json(out / "loss.json", {"curve": result.curve})
    _write_json(out / "run.json", result.to_dict())

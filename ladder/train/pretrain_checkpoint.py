"""The last checkpoint of a pretraining run: plain files, written whole or not at all.

    checkpoint/
      model.safetensors      the model's state_dict
      optimizer.safetensors  AdamW moments and step counts, keyed "<param index>.<name>"
      state.json             run fingerprint, step, wall/CPU seconds so far, loss curve, param groups

A checkpoint from a different corpus or settings (fingerprint mismatch) is
refused rather than silently mixed into this run.
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

from ladder.errors import LadderError

FORMAT = 1


def save(folder: Path, fingerprint: str, model, optimizer, state: dict[str, Any]) -> None:
    from safetensors.torch import save_file

    folder = Path(folder)
    tmp = folder.with_name(folder.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    # clone: tied weights share storage, which safetensors refuses to write twice
    save_file({k: v.detach().clone().contiguous() for k, v in model.state_dict().items()}, str(tmp / "model.safetensors"))
    opt = optimizer.state_dict()
    tensors = {}
    for idx, slots in opt["state"].items():
        for name, value in slots.items():
            tensors[f"{idx}.{name}"] = value.detach().clone().contiguous()
    save_file(tensors, str(tmp / "optimizer.safetensors"))
    meta = {"format": FORMAT, "fingerprint": fingerprint, "param_groups": opt["param_groups"], **state}
    (tmp / "state.json").write_text(json.dumps(meta))
    old = folder.with_name(folder.name + ".old")
    if folder.exists():
        os.replace(folder, old)  # keep the previous checkpoint until the new one is in place
    os.replace(tmp, folder)
    shutil.rmtree(old, ignore_errors=True)


def load(folder: Path, fingerprint: str, model, optimizer) -> dict[str, Any] | None:
    """Restore model and optimizer in place; returns the run state, or None when there is no checkpoint."""
    from safetensors.torch import load_file

    folder = Path(folder)
    if not (folder / "state.json").exists():
        old = folder.with_name(folder.name + ".old")  # interrupted between the two renames in save()
        if (old / "state.json").exists():
            os.replace(old, folder)
        else:
            return None
    meta = json.loads((folder / "state.json").read_text())
    if meta.get("format") != FORMAT or meta.get("fingerprint") != fingerprint:
        raise LadderError(
            f"{folder}: a checkpoint of a different run (corpus or settings changed); "
            "rerun with the same arguments to resume, or delete the folder / pick another --out"
        )
    model.load_state_dict(load_file(str(folder / "model.safetensors")))
    flat = load_file(str(folder / "optimizer.safetensors"))
    slots: dict[int, dict[str, Any]] = {}
    for key, value in flat.items():
        idx, name = key.split(".", 1)
        slots.setdefault(int(idx), {})[name] = value
    optimizer.load_state_dict({"state": slots, "param_groups": meta.pop("param_groups")})
    for k in ("format", "fingerprint"):
        meta.pop(k)
    return meta

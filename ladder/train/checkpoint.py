"""One checkpoint format for every trainer: plain files, written whole or not at all.

    save(out / "checkpoint", fp, {"step": 8, ...}, {"model": model.state_dict()}, opt)
    got = load(out / "checkpoint", fp, opt)      # None, or (state, {"model": {...}}) with opt restored

    checkpoint/
      state.json               {"format", "fingerprint", "groups", "param_groups", **the trainer's loop state}
      <group>.safetensors      one file per tensor group the trainer passes (model, lora, best, rng, ...)
      optimizer.safetensors    the optimizer's per-parameter tensors, keyed "<param index>.<slot name>"

Tensors go to safetensors and everything else to JSON: no pickle. `save` writes
into `checkpoint.tmp`, then swaps it in with two renames (checkpoint ->
checkpoint.old, checkpoint.tmp -> checkpoint), so the previous checkpoint is
kept until the new one is in place; when a crash fell between the two renames,
`load` reads `checkpoint.old`. (ladder.manifest.atomic_dir names its aside
folder at random, so a reader could not find it after such a crash; hence the
fixed `.old` name here.) A checkpoint of another run (the trainer's fingerprint
of data and settings differs) is refused, never mixed into this one.
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

from ladder.errors import LadderError

FORMAT = 2  # 1 was two layouts (LoRA's "version", pretraining's "format"); 2 is the shared one
OPTIMIZER = "optimizer"
STATE = "state.json"
_RESERVED = {"format", "fingerprint", "groups", "param_groups"}


def _siblings(folder: Path) -> tuple[Path, Path]:
    """(the folder being written, the previous checkpoint while the new one moves in)."""
    return folder.with_name(folder.name + ".tmp"), folder.with_name(folder.name + ".old")


def save(folder: str | Path, fingerprint: str, state: dict[str, Any],
         tensors: dict[str, dict[str, Any]], optimizer: Any) -> None:
    """Write the loop `state` (JSON-able), the named tensor groups and the optimizer to `folder`."""
    import torch
    from safetensors.torch import save_file

    folder = Path(folder)
    tmp, old = _siblings(folder)
    assert not _RESERVED & set(state), f"loop state may not use the keys {sorted(_RESERVED)}"
    assert OPTIMIZER not in tensors and all(name.isidentifier() for name in tensors), sorted(tensors)
    shutil.rmtree(tmp, ignore_errors=True)  # a half-written folder from a killed save
    tmp.mkdir(parents=True)
    for name, group in tensors.items():
        # clone: tied weights share storage, which safetensors refuses to write twice
        save_file({k: v.detach().clone().contiguous() for k, v in group.items()}, str(tmp / f"{name}.safetensors"))
    opt = optimizer.state_dict()
    slots = {f"{i}.{name}": (t if torch.is_tensor(t) else torch.tensor(t)).detach().clone().contiguous()
             for i, s in opt["state"].items() for name, t in s.items()}
    save_file(slots, str(tmp / f"{OPTIMIZER}.safetensors"))
    meta = {"format": FORMAT, "fingerprint": fingerprint, "groups": sorted(tensors),
            "param_groups": opt["param_groups"], **state}
    (tmp / STATE).write_text(json.dumps(meta))  # last: a folder without state.json is never read
    if (folder / STATE).exists():
        shutil.rmtree(old, ignore_errors=True)
        os.replace(folder, old)
    else:  # no checkpoint here (a folder without state.json is none); `old`, if any, is the one a crash left
        shutil.rmtree(folder, ignore_errors=True)  # between the renames: it stays until `tmp` is in place
    os.replace(tmp, folder)
    shutil.rmtree(old, ignore_errors=True)


def found(folder: str | Path) -> Path | None:
    """The folder holding the checkpoint to resume from: `folder`, or `folder.old` after a crash mid-swap."""
    folder = Path(folder)
    for d in (folder, _siblings(folder)[1]):
        if (d / STATE).exists():
            return d
    return None


def load(folder: str | Path, fingerprint: str, optimizer: Any) -> tuple[dict[str, Any], dict[str, dict]] | None:
    """Restore `optimizer` in place; return (loop state, tensor groups), or None when there is no checkpoint.

    Nothing is renamed here (under DDP every rank reads the same folder at once): the next `save` tidies up.
    """
    folder = Path(folder)
    where = found(folder)
    if where is None:
        return None
    try:
        meta = json.loads((where / STATE).read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise LadderError(f"{folder}: unreadable {STATE} ({e}); delete the folder to start over") from None
    if meta.get("format") != FORMAT:
        raise LadderError(f"{folder}: a checkpoint in another format (format {meta.get('format')}, this ladder "
                          f"writes {FORMAT}); delete the folder to start over")
    if meta.get("fingerprint") != fingerprint:
        raise LadderError(f"{folder}: a checkpoint of a different run (other data or settings); rerun with the "
                          "same arguments to resume, or delete the folder (or choose another --out) to start over")
    tensors = {name: _read(where, name) for name in [*meta["groups"], OPTIMIZER]}
    per: dict[int, dict[str, Any]] = {}
    for key, t in tensors.pop(OPTIMIZER).items():
        i, name = key.split(".", 1)
        per.setdefault(int(i), {})[name] = t
    optimizer.load_state_dict({"state": per, "param_groups": meta["param_groups"]})
    return {k: v for k, v in meta.items() if k not in _RESERVED}, tensors


def _read(where: Path, name: str) -> dict[str, Any]:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = where / f"{name}.safetensors"
    try:
        return load_file(str(path))
    except (OSError, SafetensorError) as e:  # missing or damaged
        raise LadderError(f"{path}: unreadable checkpoint file ({e}); delete {where} to start over") from None


def discard(folder: str | Path) -> None:
    """Remove a checkpoint and its siblings (the run it belonged to is complete)."""
    folder = Path(folder)
    for d in (folder, *_siblings(folder)):
        shutil.rmtree(d, ignore_errors=True)

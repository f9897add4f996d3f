"""Saved programs: a compiled program as a plain, versioned folder, and `load` to run it again.

    from ladder.saved import save_program, load
    save_program(program, "runs/<id>/best", task_file="task.toml")
    program = load("runs/<id>/best")                 # checks the manifest and the model's SHA-256
    program({"text": "How far is it from Denver to Aspen ?"})    # -> "LOC" (the answer text)
    program.complete({"text": "..."})                # -> Completion (text, usage, label log-probs)

Folder layout (format "ladder.program", version 1; plain files, no pickle):

    program.json     the task definition (never its test split), rung, config, model reference,
                     prompt, rung state (demos, index reference, ...) and what building it cost
    adapter.gguf     the LoRA adapter, copied in (finetune / pretrain rungs only)
    manifest.json    SHA-256 and size of every file (ladder.manifest); checked by `load`

Calling a loaded program runs the same code the climb evaluated (the rung's
Program, rebuilt from the saved state), so with the same weights it gives the
same outputs. Rungs whose programs carry more than the task and config
provide two hooks in their module: `save_state(program) -> dict` (JSON-safe;
a "train" key there is stored as the task's train split) and
`restore(task, model, config, state, verify) -> Program`.
"""
from __future__ import annotations

import importlib
import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ladder.errors import LadderError
from ladder.manifest import atomic_dir, read_manifest, remove_stale_tmp, sha256_path, verify_manifest, write_manifest
from ladder.models.base import Completion, Model, Usage
from ladder.prompts import system_prompt
from ladder.rungs.base import Program
from ladder.task import Example, Task, template_fields

KIND = "ladder.program"
VERSION = 1
ADAPTER = "adapter.gguf"


# -- saving ---------------------------------------------------------------------------------------
def _hooks(rung: str) -> Any:
    """The module that defines a rung (its optional save_state / restore hooks live there)."""
    from ladder.rungs import rung_spec

    return importlib.import_module(rung_spec(rung).compile.__module__)


def task_dict(task: Task, train: list[Example] | None = None) -> dict[str, Any]:
    """Everything needed to rebuild the task for answering inputs; the test split is left out."""
    return {"name": task.name, "instruction": task.instruction, "input": task.input, "output": task.output,
            "input_fields": list(dict.fromkeys(template_fields(task.input, task.source, "input"))),
            "labels": task.labels, "metric": task.metric, "target": task.target, "corpus": task.corpus,
            "id": task.id_field, "max_tokens": task.max_tokens, "answer_budget": task.answer_budget,
            "requests": task.requests, "fingerprint": task.fingerprint(), "source": task.source,
            "train": train or []}


def model_ref(model: Model) -> dict[str, Any]:
    """How to find the weights again: the spec `load_model` takes, its backend, and the weights' SHA-256."""
    from ladder.models import MODELS

    inner = getattr(model, "inner", model)  # a CachedModel wraps the backend
    path = getattr(inner, "path", None)
    spec = inner.name
    try:
        from ladder.models import backend_for

        backend = backend_for(spec).name
    except LadderError:
        backend, spec = (None, spec) if path is None else ("gguf", str(Path(path).resolve()))
    sha = None
    if backend in MODELS.names() and MODELS.get(backend).local and path is not None:
        sha = getattr(inner, "_sha", None) or sha256_path(Path(path))
    return {"spec": spec, "backend": backend, "sha256": sha, "fingerprint": inner.fingerprint,
            "base_url": getattr(inner, "base_url", None), "lora": bool(getattr(inner, "lora_path", None))}


def save_program(program: Program, folder: str | Path, *, task_file: str | Path | None = None) -> Path:
    """Write `program` to `folder` (replaced atomically if it exists); return the folder.

    Works for any rung's Program (`.task`, `.model`, `.rung`, `.config`); the climb calls it per row.
    """
    folder = Path(folder)
    mod = _hooks(program.rung)
    state = dict(mod.save_state(program)) if hasattr(mod, "save_state") else {}
    train = state.pop("train", None)
    doc = {
        "format": KIND, "version": VERSION, "rung": program.rung,
        "task": task_dict(program.task, train), "task_file": str(task_file or program.task.source),
        "config": program.config, "list_labels": program.list_labels,
        "model": model_ref(program.model), "adapter": None,
        "prompt": {"system": system_prompt(program.task, program.list_labels)},
        "label_prior": program._prior, "state": state, "one_time": program.one_time.to_dict(),
    }
    lora = getattr(getattr(program.model, "inner", program.model), "lora_path", None)
    remove_stale_tmp(folder)
    with atomic_dir(folder) as tmp:
        if lora:
            shutil.copyfile(lora, tmp / ADAPTER)
            doc["adapter"] = ADAPTER
        text = json.dumps(doc, indent=1, ensure_ascii=False, default=_json_default)
        (tmp / "program.json").write_text(text + "\n", encoding="utf-8")
        write_manifest(tmp, KIND, VERSION, {"rung": program.rung, "model": doc["model"]["spec"],
                                            "task": program.task.name})
    return folder


def _json_default(x: Any) -> Any:
    if isinstance(x, Path):
        return str(x)
    raise LadderError(f"cannot save a program whose config holds a {type(x).__name__} ({x!r:.60}); "
                      "only plain values (text, numbers, lists, tables) can be saved")


# -- loading --------------------------------------------------------------------------------------
@dataclass
class SavedProgram:
    """A loaded program. `program(fields)` returns the answer text; `complete(fields)` the Completion."""

    program: Program
    path: Path
    doc: dict[str, Any]
    manifest: dict[str, Any] = field(default_factory=dict)

    @property
    def task(self) -> Task:
        return self.program.task

    @property
    def rung(self) -> str:
        return self.program.rung

    @property
    def model(self) -> Model:
        return self.program.model

    @property
    def input_fields(self) -> list[str]:
        return list(self.doc["task"]["input_fields"])

    def check_fields(self, fields: Any) -> Example:
        """`fields` as an example, or a LadderError naming what is wrong (not a dict, missing, not text)."""
        names = self.input_fields
        if not isinstance(fields, dict):
            raise LadderError(f"fields must be an object with {', '.join(repr(n) for n in names)}, "
                              f"not {type(fields).__name__}")
        for n in names:
            if n not in fields:
                raise LadderError(f"missing field '{n}'; this program reads: {', '.join(names)}")
            if not isinstance(fields[n], (str, int, float)) or isinstance(fields[n], bool):
                raise LadderError(f"field '{n}' must be text, not {type(fields[n]).__name__}")
        return {n: fields[n] for n in names}

    def complete(self, fields: dict[str, Any]) -> Completion:
        return self.program(self.check_fields(fields))

    def __call__(self, fields: dict[str, Any]) -> str:
        return self.complete(fields).text

    def describe(self) -> dict[str, Any]:
        t = self.doc["task"]
        return {**self.program.describe(), "path": str(self.path), "task": t["name"], "fields": t["input_fields"],
                "labels": t["labels"], "format": f"{KIND}/{self.doc['version']}",
                "model_sha256": self.doc["model"].get("sha256")}


def load(path: str | Path, *, verify: bool = True, model: Model | None = None,
         base_url: str | None = None) -> SavedProgram:
    """Load a saved program folder.

    verify: check every file against manifest.json, the weights' SHA-256 against the saved one and a
    rag program's index manifest (False: `--no-verify`, use it anyway). model: use this Model instead of
    the saved reference (tests, or the same weights served elsewhere); base_url: for openai/ models.
    """
    folder = Path(path)
    manifest = verify_manifest(folder, KIND) if verify else read_manifest(folder, KIND)
    doc = _read_doc(folder)
    task = _task(doc["task"], folder)
    ref = doc["model"]
    if model is None:
        adapter = folder / doc["adapter"] if doc.get("adapter") else None
        model = _load_model(ref, adapter, verify, base_url)
    mod = _hooks(doc["rung"])
    if hasattr(mod, "restore"):
        program = mod.restore(task, model, dict(doc["config"]), doc.get("state") or {}, verify)
    else:
        program = Program(doc["rung"], task, model, config=dict(doc["config"]))
    program.list_labels = bool(doc.get("list_labels", True))
    program.one_time = Usage.from_dict(doc.get("one_time") or {})
    program._prior = doc.get("label_prior")
    return SavedProgram(program, folder, doc, manifest)


def wrap(program: Program) -> SavedProgram:
    """A compiled, unsaved program behind the same API (`ladder serve task.toml --rung R --model M`)."""
    doc = {"format": KIND, "version": VERSION, "rung": program.rung, "task": task_dict(program.task),
           "config": program.config, "model": model_ref(program.model)}
    return SavedProgram(program, Path(program.task.source), doc)


def _read_doc(folder: Path) -> dict[str, Any]:
    path = folder / "program.json"
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise LadderError(f"{path}: unreadable saved program ({e}); save the program again") from None
    if not isinstance(doc, dict) or doc.get("format") != KIND:
        raise LadderError(f"{path}: not a saved ladder program (format {doc.get('format') if isinstance(doc, dict) else None!r})")
    if doc.get("version") != VERSION:
        raise LadderError(f"{path}: saved program format version {doc.get('version')}, this ladder reads version "
                          f"{VERSION}; save it again with this ladder (or upgrade ladder)")
    for key in ("rung", "task", "config", "model"):
        if key not in doc:
            raise LadderError(f"{path}: missing '{key}'; save the program again")
    return doc


def _task(t: dict[str, Any], folder: Path) -> Task:
    """The saved task, validated by Task itself (with a placeholder test row, dropped afterwards)."""
    labels = t.get("labels")
    placeholder = {f: "" for f in t["input_fields"]}
    placeholder[t["output"]] = labels[0] if labels else ""
    try:
        task = Task(name=t["name"], instruction=t["instruction"], input=t["input"], output=t["output"],
                    train=list(t.get("train") or []), test=[placeholder], labels=labels, metric=t["metric"],
                    target=t.get("target"), corpus=t.get("corpus"), requests=t.get("requests", 100_000),
                    source=f"{folder}/program.json", id_field=t.get("id"),
                    max_tokens=t.get("max_tokens") or t.get("answer_budget"))
    except (KeyError, TypeError) as e:
        raise LadderError(f"{folder}/program.json: task field {e} missing or invalid; save the program again") from None
    task.test = []
    return task


def _load_model(ref: dict[str, Any], adapter: Path | None, verify: bool, base_url: str | None) -> Model:
    from ladder.models import load_model

    if ref.get("backend") is None:
        raise LadderError(f"model '{ref['spec']}' was an in-process object and cannot be loaded by name; "
                          "pass load(path, model=...)")
    model = load_model(ref["spec"], base_url=base_url or ref.get("base_url"),
                       lora_path=str(adapter) if adapter else None)
    want = ref.get("sha256")
    path = getattr(model, "path", None)
    if verify and want and path is not None:
        found = getattr(model, "_sha", None) or sha256_path(Path(path))
        if found != want:
            raise LadderError(f"model '{ref['spec']}': the weights found ({path}) have SHA-256 {found[:12]}..., the "
                              f"program was saved with {want[:12]}...; install the same weights, or pass "
                              "--no-verify to run with these")
    return model

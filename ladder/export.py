"""Hand a task or a program to the tools people already use.

- `export_chat_jsonl(task, out)`: a split as OpenAI chat JSONL (`{"messages": [...]}`), the format
  vLLM, Unsloth, TRL and hosted fine-tuning take, with the prompt ladder's finetune rung trains on.
- `export_ollama(program_dir, out)`: a saved program's base GGUF, its LoRA adapter (fine-tuned
  programs) and an Ollama Modelfile carrying the same system prompt and few-shot demos:
  `ollama create NAME -f OUT/Modelfile`.

Both write into a temporary sibling and rename into place, so a failure leaves nothing half-written.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from ladder.errors import LadderError
from ladder.manifest import atomic_dir, atomic_file
from ladder.prompts import training_messages
from ladder.task import Task

CHATML = '''{{- if .System }}<|im_start|>system
{{ .System }}<|im_end|>
{{ end }}{{- range .Messages }}<|im_start|>{{ .Role }}
{{ .Content }}<|im_end|>
{{ end }}<|im_start|>assistant
'''


def export_chat_jsonl(task: Task, out: str | Path, split: str = "train") -> int:
    """Write a split as chat JSONL; returns the number of rows. The test split is refused."""
    if split not in ("train", "dev"):
        raise LadderError(f"export: split '{split}' cannot be exported; choose train or dev (the test split "
                          "stays unseen by any training)")
    rows = task.train if split == "train" else task.dev
    if not rows:
        raise LadderError(f"{task.source}: the {split} split is empty; nothing to export")
    with atomic_file(Path(out)) as tmp, open(tmp, "w", encoding="utf-8") as f:
        for ex in rows:
            f.write(json.dumps({"messages": training_messages(task, ex)}, ensure_ascii=False) + "\n")
    return len(rows)


def modelfile(system: str, demos: list[tuple[str, str]], adapter: bool, template: str | None) -> str:
    """An Ollama Modelfile for the base in ./base.gguf.

    >>> print(modelfile("Classify.", [("hi", "greeting")], True, None))
    FROM ./base.gguf
    ADAPTER ./adapter.gguf
    PARAMETER temperature 0
    SYSTEM \"\"\"Classify.\"\"\"
    MESSAGE user hi
    MESSAGE assistant greeting
    <BLANKLINE>
    """
    lines = ["FROM ./base.gguf"] + (["ADAPTER ./adapter.gguf"] if adapter else []) + ["PARAMETER temperature 0"]
    if template:
        lines += [f'TEMPLATE """{template}"""', 'PARAMETER stop "<|im_end|>"']
    lines.append(f'SYSTEM """{system}"""')
    for user, assistant in demos:
        lines += [f"MESSAGE user {_one_line(user)}", f"MESSAGE assistant {_one_line(assistant)}"]
    return "\n".join(lines) + "\n"


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _chat_template(gguf: Path) -> str | None:
    """ChatML when the GGUF's own chat template is ChatML (SmolLM2, Qwen); else Ollama's default."""
    try:
        from gguf import GGUFReader

        field = GGUFReader(str(gguf)).fields.get("tokenizer.chat_template")
        text = bytes(field.parts[field.data[0]]).decode("utf-8", "ignore") if field else ""
    except Exception:  # no gguf package, or metadata it cannot read: let Ollama pick
        return None
    return CHATML if "<|im_start|>" in text else None


def export_ollama(program_dir: str | Path, out: str | Path) -> dict[str, Any]:
    """Write base.gguf (+ adapter.gguf) and a Modelfile for a saved program that runs on local weights."""
    from ladder.models import load_model
    from ladder.saved import load

    program = load(program_dir)
    doc = program.doc
    base = getattr(load_model(doc["model"]["spec"]), "path", None)
    if doc["model"].get("backend") not in ("bundled", "gguf") or base is None:
        raise LadderError(f"{program_dir}: its model '{doc['model']['spec']}' is not local GGUF weights; Ollama "
                          "needs a bundled model or a .gguf (serve API models with 'ladder serve' instead)")
    adapter = Path(program_dir) / doc["adapter"] if doc.get("adapter") else None
    task = program.task
    demos = [(task.render(ex), task.answer(ex)) for ex in (doc.get("state") or {}).get("demos") or []]
    text = modelfile(doc["prompt"]["system"], demos, adapter is not None, _chat_template(Path(base)))
    out = Path(out)
    with atomic_dir(out) as tmp:
        shutil.copyfile(base, tmp / "base.gguf")
        if adapter is not None:
            shutil.copyfile(adapter, tmp / "adapter.gguf")
        (tmp / "Modelfile").write_text(text, encoding="utf-8")
    return {"out": str(out), "rung": doc["rung"], "base": str(base), "adapter": adapter is not None,
            "demos": len(demos), "create": f"ollama create {task.name} -f {out / 'Modelfile'}"}

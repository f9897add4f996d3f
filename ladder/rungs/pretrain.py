"""Pretrain: continued pretraining of the base on the task's corpus, then the finetune rung on top.

The rung answers "does reading my domain's text first help?": the model's
weights are trained further on `task.corpus` (next-token prediction, all
weights), exported to GGUF, and that continued base is fine-tuned with LoRA on
the train split exactly as the finetune rung does. `program.one_time` is the
sum of both trainings; `program.config["pretrain"]` carries held-out perplexity
before and after.

Honesty: corpus documents that contain a test example's input are dropped
before training (count reported as `dropped_test_docs`), and the held-out
perplexity is measured on corpus documents never trained on.

Continued pretraining runs are cached in `$LADDER_HOME/pretrained/`, keyed by
the corpus text, the base weights and the settings; an interrupted run resumes.

Options (all optional): keys starting with "pretrain_" go to PretrainConfig
(defaults sized for a CPU: `pretrain_steps` 40, `pretrain_seq_len` 256,
`pretrain_batch_size` 4, `pretrain_lr` 5e-5); every other key goes to the
finetune rung (e.g. {"epochs": 1, "max_steps": 100}); a plain `max_minutes` (the climb's
--train-minutes) bounds each of the two trainings.
"""
from __future__ import annotations

import functools
import hashlib
import json
import sys
from dataclasses import fields
from pathlib import Path
from typing import Any

from ladder.errors import LadderError
from ladder.models.base import Model, Usage
from ladder.rungs.base import Program, RungSpec
from ladder.task import Task

RUNG_DEFAULTS = {"steps": 40, "seq_len": 256, "batch_size": 4, "eval_tokens": 8192}


def split_options(options: dict[str, Any] | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """(pretrain options, finetune options).

    >>> split_options({"pretrain_steps": 10, "epochs": 2})
    ({'steps': 10}, {'epochs': 2})
    """
    pre, ft = {}, {}
    for k, v in (options or {}).items():
        if k.startswith("pretrain_"):
            pre[k.removeprefix("pretrain_")] = v
        else:
            ft[k] = v
    return pre, ft


def drop_test_docs(texts: list[str], test_inputs: list[str]) -> tuple[list[str], int]:
    """The documents that hold no test input (ladder.leaks.docs_holding), and how many were dropped.

    >>> drop_test_docs(["a long review of the film that we liked a lot", "other"], ["review of the film that we liked"])
    (['other'], 1)
    """
    from ladder.leaks import docs_holding

    drop = set(docs_holding(texts, test_inputs))
    return [t for i, t in enumerate(texts) if i not in drop], len(drop)

def _pretrain_config(out: Path, base: str, options: dict[str, Any]):
    from ladder.train.pretrain import PretrainConfig

    known = {f.name for f in fields(PretrainConfig)} - {"out", "base", "params"}
    unknown = sorted(set(options) - known)
    if unknown:
        raise LadderError(f"pretrain rung: unknown option 'pretrain_{unknown[0]}'; "
                          f"choose from: {', '.join('pretrain_' + k for k in sorted(known))}")
    return PretrainConfig(out=out, base=base, **{**RUNG_DEFAULTS, **options})


def continued_base(task: Task, spec: str, options: dict[str, Any]) -> tuple[Path, dict[str, Any]]:
    """Continued-pretrain `spec` on the task's corpus (cached); returns (gguf path, result dict)."""
    from ladder.home import ladder_home
    from ladder.models.hf import resolve_base
    from ladder.train.pretrain import pretrain
    from ladder.train.pretrain_data import load_texts

    if not task.corpus:
        raise LadderError(f"{task.source}: the pretrain rung needs a corpus; add corpus = \"docs.jsonl\" to the task "
                          "(a JSONL of {title, text}, a BEIR folder or a `ladder index` folder)")
    texts, dropped = drop_test_docs(load_texts(task.corpus), [task.render(ex) for ex in task.test])
    probe = _pretrain_config(Path("."), spec, options)  # validates options before any work
    key_blob = json.dumps([hashlib.sha256("\x00".join(texts).encode()).hexdigest(), resolve_base(spec).fingerprint,
                           {f.name: getattr(probe, f.name) for f in fields(probe) if f.name != "out"}],
                          sort_keys=True, default=str)
    key = hashlib.sha256(key_blob.encode()).hexdigest()[:16]
    out = ladder_home() / "pretrained" / f"{task.name}-{Path(spec).stem}-{key}"
    result_file = out / "result.json"
    if result_file.exists() and json.loads(result_file.read_text()).get("gguf"):
        result = json.loads(result_file.read_text())
    else:
        out.mkdir(parents=True, exist_ok=True)
        corpus = out / "corpus.jsonl"  # the filtered corpus actually trained on, kept with the run
        if not corpus.exists():
            tmp = out / "corpus.jsonl.tmp"
            tmp.write_text("".join(json.dumps({"text": t}, ensure_ascii=False) + "\n" for t in texts), encoding="utf-8")
            tmp.replace(corpus)
        cfg = _pretrain_config(out, spec, options)
        bar = _progress() if sys.stderr.isatty() else None
        result = pretrain(str(corpus), cfg, on_step=bar).to_dict()
    result["dropped_test_docs"] = dropped
    return _named(Path(result["gguf"]), f"{Path(spec).stem}-cpt"), result


def _named(gguf: Path, name: str) -> Path:
    """A hard link `<base>-cpt.gguf` next to model.gguf, so reports name the model by what it is."""
    import os
    import shutil

    link = gguf.with_name(name + ".gguf")
    if not link.exists():
        try:
            os.link(gguf, link)
        except OSError:
            shutil.copyfile(gguf, link)
    return link


def _progress():
    def show(info: dict[str, Any]) -> None:
        print(f"\rpretrain step {info['step']}/{info['steps']} loss {info['loss']:.3f} "
              f"eta {info['eta_seconds']:.0f}s", end="\n" if info["step"] == info["steps"] else "", file=sys.stderr)
    return show


def compile(task: Task, model: Model, options: dict[str, Any] | None = None) -> Program:
    try:
        from ladder.rungs import finetune
        from ladder.train.pretrain import PretrainConfig  # noqa: F401  (the training extras are installed)
    except ModuleNotFoundError as e:
        raise LadderError(f"the pretrain rung needs the training extras ({e.name}); run 'make install'") from None
    from ladder.models import load_model

    pre_opts, ft_opts = split_options(options)
    if "max_minutes" in ft_opts:  # a climb's training budget holds for each of the two trainings
        pre_opts.setdefault("max_minutes", ft_opts["max_minutes"])
    spec = finetune.base_spec(model)
    gguf, result = continued_base(task, spec, pre_opts)
    base: Model = load_model(str(gguf))
    store = getattr(model, "store", None)
    if store is not None:
        from ladder.store import CachedModel

        base = CachedModel(base, store)
    program = finetune.compile(task, base, ft_opts)
    pre_usage = Usage(result["tokens_seen"], 0, result["wall_seconds"], result["cpu_seconds"])
    program.rung = "pretrain"
    program.one_time = pre_usage + program.one_time
    program.config = {
        "pretrain": {"base": spec, "steps": result["steps"], "tokens": result["tokens_seen"],
                     "perplexity_before": result["perplexity_before"], "perplexity_after": result["perplexity_after"],
                     "heldout_docs": result["heldout_docs"], "dropped_test_docs": result["dropped_test_docs"],
                     "flops": result["flops"], "gguf": str(gguf)},
        **program.config,
    }
    return program


@functools.cache  # one class per process: built from the training config on first use
def options() -> type:
    """The finetune rung's options, plus PretrainConfig's fields prefixed `pretrain_`."""
    from dataclasses import make_dataclass

    from ladder.rungs import finetune
    from ladder.train.pretrain import PretrainConfig

    extra = [(f"pretrain_{f.name}", f.type, None) for f in fields(PretrainConfig) if f.name not in ("out", "base", "params")]
    return make_dataclass("PretrainOptions", extra, bases=(finetune.options(),))


RUNG = RungSpec("pretrain", compile, cost_rank=50, options=options, needs_corpus=True, needs_local_weights=True,
                trains=True, summary="continued pretraining on the task's corpus, then a LoRA adapter")

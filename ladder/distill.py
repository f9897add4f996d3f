"""Distillation: a prompted teacher labels unlabelled inputs, a small student is fine-tuned on them.

    report = distill(task, "unlabeled.jsonl", "smollm2-135m", "runs/d1",
                     DistillConfig(teacher="openai/llama-3.1-70b", base_url=...))

The teacher answers through one of the prompting rungs (few-shot by default, demos
from the task's own train split), so label tasks keep its constrained output. Its
answers are filtered before training:
- labels: answers that are not a label are dropped; with a backend that scores the
  labels, answers below `min_confidence` (the label's share of probability among
  the labels) are dropped too;
- `votes > 1` (self-consistency): N answers sampled at `temperature`, the majority
  kept when at least `min_agreement` of the votes agree.
The teacher's calls go through the run store, so an interrupted labelling resumes.
The inputs must not contain test examples (checked). The report puts teacher and
student side by side on the test split, with their costs.
"""
from __future__ import annotations

import json
import math
import os
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

from ladder.errors import LadderError
from ladder.leaks import check_no_leak
from ladder.models.base import Model, Usage, pick_choice
from ladder.task import Example, Task, read_jsonl, template_fields
from ladder.train import ddp
from ladder.train.lora import LoraConfig, TrainResult, finetune


@dataclass
class DistillConfig:
    teacher: str | Model  # a model spec for load_model, or a Model (tests pass a double)
    teacher_rung: str = "few-shot"
    votes: int = 1  # > 1: self-consistency over sampled answers
    min_agreement: float = 0.5  # share of votes the majority answer needs
    min_confidence: float = 0.0  # labels: minimum probability share of the chosen label
    temperature: float = 0.7  # sampling temperature for votes > 1
    base_url: str | None = None  # for openai/<model> teachers
    teacher_options: dict[str, Any] = field(default_factory=dict)


@dataclass
class DistillReport:
    train: TrainResult
    labelled: int  # inputs the teacher answered
    kept: int  # inputs that passed the filters (the student's training set)
    teacher_usage: Usage
    labels_file: Path
    side_by_side: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"train": self.train.to_dict(), "labelled": self.labelled, "kept": self.kept,
                "teacher_usage": self.teacher_usage.to_dict(), "labels_file": str(self.labels_file),
                "side_by_side": self.side_by_side}


def read_inputs(task: Task, path: str | Path) -> list[Example]:
    rows = read_jsonl(Path(path), "inputs")
    need = template_fields(task.input, task.source, "input")
    for n, row in enumerate(rows, 1):
        if not isinstance(row, dict):
            raise LadderError(f"{path}: input {n}: expected a JSON object")
        missing = [f for f in need if f not in row]
        if missing:
            raise LadderError(f"{path}: input {n}: missing field '{missing[0]}' used by the task's input template")
    if not rows:
        raise LadderError(f"{path}: no inputs to label")
    check_no_leak(task.test, rows, f"distillation inputs ({path})", need)
    return rows


def label_one(program: Any, ex: Example, cfg: DistillConfig) -> tuple[str | None, float, Usage]:
    """(answer or None when filtered out, confidence in [0, 1], teacher usage)."""
    labels = program.task.labels
    if cfg.votes <= 1:
        out = program(ex)
        answer = out.text.strip()
        conf = 1.0
        if labels:
            answer = pick_choice(answer, labels) or ""
            if out.choice_logprobs and answer in out.choice_logprobs:
                lp = out.choice_logprobs
                top = max(lp.values())
                conf = math.exp(lp[answer] - top) / sum(math.exp(v - top) for v in lp.values())
        keep = bool(answer) and conf >= cfg.min_confidence
        return (answer if keep else None), conf, out.usage
    model = getattr(program.model, "inner", program.model)  # samples must not come from the call cache
    msgs, usage, votes = program.messages(ex), Usage(), []
    for _ in range(cfg.votes):
        out = model.complete(msgs, max_tokens=16 if labels else 256, temperature=cfg.temperature)
        usage = usage + out.usage
        text = out.text.strip()
        votes.append((pick_choice(text, labels) or "") if labels else text)
    answer, n = Counter(v for v in votes if v).most_common(1)[0] if any(votes) else ("", 0)
    conf = n / cfg.votes
    return (answer if answer and conf >= cfg.min_agreement else None), conf, usage


def teacher_program(task: Task, cfg: DistillConfig) -> Any:
    from ladder.models import load_model
    from ladder.rungs import get_rung

    if isinstance(cfg.teacher, Model):
        model = cfg.teacher
    else:
        from ladder.store import CachedModel, Store

        model = CachedModel(load_model(cfg.teacher, base_url=cfg.base_url), Store())
    return get_rung(cfg.teacher_rung)(task, model, dict(cfg.teacher_options))


def label_inputs(task: Task, inputs: list[Example], cfg: DistillConfig, out_file: Path,
                 progress: Callable[[int, int], None] | None = None) -> tuple[list[Example], Usage]:
    """Teacher answers -> kept examples (input fields + the task's output field), written to `out_file`."""
    program = teacher_program(task, cfg)
    kept, usage, lines = [], Usage(), []
    for i, ex in enumerate(inputs, 1):
        answer, conf, u = label_one(program, ex, cfg)
        usage = usage + u
        row = {**{k: v for k, v in ex.items() if k != task.output}, task.output: answer,
               "_teacher_confidence": round(conf, 4), "_kept": answer is not None}
        lines.append(json.dumps(row, ensure_ascii=False))
        if answer is not None:
            kept.append({k: v for k, v in row.items() if not k.startswith("_")})
        if progress:
            progress(i, len(inputs))
    out_file.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_file.with_name(out_file.name + ".part")
    tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    os.replace(tmp, out_file)
    return kept, usage


def distill(task: Task, inputs_file: str | Path, student: str, out: str | Path, cfg: DistillConfig,
            lora: LoraConfig | None = None, *, evaluate_test: bool = True, limit: int | None = None,
            progress: bool = False) -> DistillReport:
    out = Path(out)
    inputs = read_inputs(task, inputs_file)
    world = ddp.setup()
    labels_file = out / "teacher_labels.jsonl"
    usage_file = out / "teacher_usage.json"
    if world.main:  # one rank asks the teacher; the others read its answers
        kept, t_usage = label_inputs(task, inputs, cfg, labels_file)
        usage_file.write_text(json.dumps(t_usage.to_dict()))
    ddp.barrier(world)
    rows = read_jsonl(labels_file)
    kept = [{k: v for k, v in r.items() if not k.startswith("_")} for r in rows if r.get("_kept")]
    t_usage = Usage.from_dict(json.loads(usage_file.read_text()))
    if not kept:
        raise LadderError(f"{labels_file}: the teacher's answers all failed the filters; lower --min-agreement "
                          "or check the teacher with 'ladder run'")
    student_task = replace(task, train=kept, name=f"{task.name}-distilled")
    result = finetune(student_task, student, out / "student", lora, progress=progress and world.main)
    report = DistillReport(result, len(rows), len(kept), t_usage, labels_file)
    if evaluate_test and world.main:
        report.side_by_side = _side_by_side(task, cfg, student, result, t_usage, limit)
    return report


def _side_by_side(task: Task, cfg: DistillConfig, student: str, result: TrainResult, t_usage: Usage,
                  limit: int | None) -> list[dict[str, Any]]:
    from ladder.evaluation import evaluate

    examples = task.test_sample(limit)
    rows = []
    programs = [("teacher", str(getattr(cfg.teacher, "name", cfg.teacher)), teacher_program(task, cfg), Usage())]
    if result.gguf is not None:
        from ladder.rungs.finetune import served_program

        programs.append(("student", student, served_program(task, student, result.gguf), result.usage + t_usage))
    for role, name, prog, one_time in programs:
        res = evaluate(prog, examples, task.metric, **task.scoring())
        rows.append({"role": role, "model": name, "metric": res.metric, "score": res.score, "ci_low": res.ci_low,
                     "ci_high": res.ci_high, "n": res.n, "one_time_cpu_seconds": one_time.cpu_seconds,
                     "seconds_per_1k": res.usage.seconds / max(1, res.n) * 1000})
    return rows

"""Prompt building shared by the rungs, the trainers and `ladder ask`: one copy of each piece.

A fine-tuned model must see the prompt it was trained on, and a RAG program and `ladder ask`
must show passages the same way, so these live below all of them.
"""
from __future__ import annotations

from ladder.models.base import Message
from ladder.retrieval.hit import Hit, clip_words
from ladder.task import Example, Task


def system_prompt(task: Task, list_labels: bool = True) -> str:
    """The instruction, plus the allowed answers when the task has a label set.

    A fine-tuned model learns the labels from its training answers, so its prompt leaves the
    list out (`list_labels=False`): on banking77 (77 labels) that cut the longest training
    example from 680 tokens to 128. Label scoring still restricts the answer.
    """
    text = task.instruction.strip()
    if task.labels:
        if list_labels:
            text += "\nAnswer with exactly one of: " + ", ".join(task.labels) + "."
    else:
        text += "\nAnswer with the output only."
    return text


def demo_turns(task: Task, demos: list[Example]) -> list[Message]:
    """Few-shot demonstrations as prior user/assistant turns (a shared, cacheable prefix)."""
    turns: list[Message] = []
    for ex in demos:
        turns.append({"role": "user", "content": task.render(ex)})
        turns.append({"role": "assistant", "content": task.answer(ex)})
    return turns


def passages_block(hits: list[Hit], max_words: int = 150) -> str:
    """Numbered passages inside <passages> tags, one per line group.

    >>> print(passages_block([Hit("a", 1.0, "Rome fell.", "Rome")]))
    <passages>
    [1] Rome: Rome fell.
    </passages>
    """
    lines = []
    for i, h in enumerate(hits, 1):
        head = f"{h.title}: " if h.title else ""
        lines.append(f"[{i}] {head}{clip_words(h.text, max_words)}")
    return "<passages>\n" + "\n\n".join(lines) + "\n</passages>"


def training_messages(task: Task, example: Example) -> list[Message]:
    """What a fine-tuned model is trained on and later prompted with: the instruction without the
    label list, the rendered input, then the expected answer as the assistant turn."""
    return [{"role": "system", "content": system_prompt(task, list_labels=False)},
            {"role": "user", "content": task.render(example)},
            {"role": "assistant", "content": task.answer(example)}]

"""What LoRA training eats: (prompt, answer) pairs -> token ids with masked labels, batches,
defaults fitted to the data, and the memory estimate checked before anything starts.

A pair's prompt is the zero-shot rung's chat without the list of labels (the model
learns them from the answers; see `system_prompt`), and the fine-tuned program asks
exactly that way at inference, where label scoring still restricts the answer. Only the answer
tokens (and the end-of-turn token after them) carry loss.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from ladder.errors import LadderError
from ladder.models.base import Message
from ladder.prompts import training_messages
from ladder.task import Example, Task

IGNORE = -100  # label id that cross-entropy skips (prompt and padding tokens)


@dataclass
class Pair:
    messages: list[Message]  # system + user turns, as the fine-tuned program sends them
    answer: str  # the assistant turn to learn
    where: str = ""  # "train example 3", for error messages


def task_pairs(task: Task, examples: list[Example], split: str = "train") -> list[Pair]:
    pairs = []
    for i, ex in enumerate(examples, 1):
        *prompt, answer = training_messages(task, ex)
        pairs.append(Pair(prompt, answer["content"], f"{split} example {i}"))
    return pairs


def encode(tokenizer: Any, pair: Pair) -> tuple[list[int], list[int]]:
    """(input_ids, labels): labels are IGNORE on the prompt, the answer ids (+ end of turn) after it."""
    from ladder.models.hf import chat_ids

    prompt = chat_ids(tokenizer, pair.messages, add_generation_prompt=True)
    full = chat_ids(tokenizer, pair.messages + [{"role": "assistant", "content": pair.answer}],
                    add_generation_prompt=False)
    if full[: len(prompt)] == prompt and len(full) > len(prompt):
        answer = full[len(prompt):]
    else:  # a template that rewrites earlier turns: answer tokens + end of sequence
        answer = tokenizer(pair.answer, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
    eos = tokenizer.eos_token_id
    if eos in answer:  # stop at the end-of-turn token: llama.cpp stops there too
        answer = answer[: answer.index(eos) + 1]
    return prompt + answer, [IGNORE] * len(prompt) + answer


def batches(order: list[int], batch_size: int) -> list[list[int]]:
    """Consecutive slices of a (shuffled) index order; the last one may be short.

    >>> batches([4, 2, 0, 1, 3], 2)
    [[4, 2], [0, 1], [3]]
    """
    return [order[i: i + batch_size] for i in range(0, len(order), batch_size)]


def collate(rows: list[tuple[list[int], list[int]]], pad_id: int) -> tuple[Any, Any, Any]:
    """Right-pad to the longest row -> input_ids, attention_mask, labels, each [batch, length]."""
    import torch

    width = max(len(ids) for ids, _ in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    labels = torch.full((len(rows), width), IGNORE, dtype=torch.long)
    for r, (x, y) in enumerate(rows):
        ids[r, : len(x)] = torch.tensor(x)
        mask[r, : len(x)] = 1
        labels[r, : len(y)] = torch.tensor(y)
    return ids, mask, labels


def check_data(encoded: list[tuple[list[int], list[int]]], pairs: list[Pair], min_examples: int,
               max_len: int | None, n_ctx: int, source: str) -> int:
    """Refuse too little or too long data; return the fitted max length (longest example, <= context)."""
    if len(encoded) < min_examples:
        raise LadderError(
            f"{source}: {len(encoded)} training example(s); fine-tuning needs at least {min_examples} "
            "(add labelled examples to the train split, or use the few-shot rung)"
        )
    lengths = [len(ids) for ids, _ in encoded]
    limit = min(max_len or n_ctx, n_ctx)
    too_long = [i for i, n in enumerate(lengths) if n > limit]
    if too_long:
        i = too_long[0]
        what = f"the {n_ctx}-token context" if limit == n_ctx else f"max_len = {limit}"
        raise LadderError(
            f"{source}: {pairs[i].where} is {lengths[i]} tokens, longer than {what} "
            f"({len(too_long)} example(s) in all); shorten them or raise max_len"
        )
    return max_len or int(math.ceil(max(lengths) / 8) * 8)


def fit_epochs(n_train: int, batch_size: int, min_steps: int = 30) -> int:
    """Small data needs more passes: 3 epochs, more while that is under `min_steps` steps (max 20), fewer past 10k.

    >>> fit_epochs(1000, 8), fit_epochs(40, 8), fit_epochs(50_000, 8)
    (3, 6, 1)
    """
    if n_train > 10_000:
        return 1
    epochs = 2 if n_train > 2_000 else 3
    steps = math.ceil(n_train / batch_size)
    return min(20, max(epochs, math.ceil(min_steps / max(1, steps))))

"""The math of one LoRA step: the loss over answer tokens, an optimizer step, the dev loss.

Rows are (ids, labels) pairs from ladder.train.lora_data.encode; labels are IGNORE on the
prompt, so only the answer (and its end-of-turn token) carries loss. Under torchrun every
rank runs these on its shard of the global batch and the sums are taken over all ranks
(ladder.train.ddp), so the numbers are the same as one process over the whole batch.
"""
from __future__ import annotations

from typing import Any

from ladder.train import ddp
from ladder.train.lora_data import IGNORE, collate


def token_loss(model: Any, ids: Any, mask: Any, labels: Any) -> Any:
    """Summed cross-entropy over answer tokens. ids/mask/labels: [batch, length].

    Only the positions that predict an answer token go through the vocabulary projection
    (`logits_to_keep` as a boolean mask): the prompt's logits would be thrown away anyway, and
    the projection onto a 49k-151k vocabulary is a fifth of a small model's compute. A model
    class that does not take the mask returns all logits, and those are masked here instead.
    """
    import torch.nn.functional as F

    target = labels[:, 1:]
    answer = target != IGNORE
    keep = F.pad(answer, (0, 1))  # position t predicts token t + 1
    logits = None
    if not getattr(model, "_ladder_all_logits", False):
        try:
            logits = model(input_ids=ids, attention_mask=mask, logits_to_keep=keep).logits
        except (TypeError, IndexError):
            model._ladder_all_logits = True  # remembered: one failed forward, not one per step
    if logits is None:
        logits = model(input_ids=ids, attention_mask=mask).logits
    if logits.dim() == 3:  # every position came back
        logits = logits[keep]
    return F.cross_entropy(logits.float(), target[answer], reduction="sum")


def step(net: Any, model: Any, opt: Any, sched: Any, rows: list[tuple[list[int], list[int]]], micro: int,
          pad_id: int, world: ddp.World, clip: float) -> tuple[float, int]:
    """One optimizer step over this rank's rows; returns (mean loss per answer token over all ranks, tokens)."""
    import contextlib

    import torch

    model.train()
    dev = ddp.device(world)
    n_label, n_tok = ddp.all_sum([sum(sum(1 for y in lab[1:] if y != IGNORE) for _, lab in rows),
                                  sum(len(ids) for ids, _ in rows)], world)
    chunks = [rows[i: i + micro] for i in range(0, len(rows), micro)]
    total = 0.0
    for i, chunk in enumerate(chunks):
        ids, mask, labels = (t.to(dev) for t in collate(chunk, pad_id))
        # DDP averages gradients over ranks; scaling by size/n_label makes the update the
        # gradient of (summed loss / answer tokens of the whole global batch), as in one process.
        sync = contextlib.nullcontext() if i == len(chunks) - 1 or net is model else net.no_sync()
        with sync:
            loss = token_loss(net, ids, mask, labels)
            (loss * world.size / max(1.0, n_label)).backward()
        total += loss.item()
    torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], clip)
    opt.step()
    sched.step()
    opt.zero_grad(set_to_none=True)
    return ddp.all_sum([total], world)[0] / max(1.0, n_label), int(n_tok)


def dev_loss(model: Any, rows: list[tuple[list[int], list[int]]], micro: int, pad_id: int, world: ddp.World) -> float:
    import torch

    model.eval()
    mine = ddp.shard(rows, world)
    total, n = 0.0, 0
    with torch.no_grad():
        for i in range(0, len(mine), micro):
            chunk = mine[i: i + micro]
            ids, mask, labels = (t.to(ddp.device(world)) for t in collate(chunk, pad_id))
            total += token_loss(model, ids, mask, labels).item()
            n += int((labels[:, 1:] != IGNORE).sum())
    total, n = ddp.all_sum([total, n], world)
    return total / max(1.0, n)

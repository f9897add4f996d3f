"""Train a cross-encoder reranker, and tune how it blends with the first stage.

The model: MiniLM-L6 (the bundled sentence embedder's encoder, or any BERT-like folder given as
`base`, e.g. an embedder from `ladder train-embedder`) plus a fresh one-logit head. Two losses:

- pointwise: binary cross-entropy on (query, passage, label) pairs; labels in [0, 1], so soft
  labels from an LLM teacher work too (distillation);
- listwise (localized contrastive estimation, Gao et al. 2021): each step scores groups of one
  relevant passage and `group_size - 1` hard negatives drawn afresh from the first stage's top
  results, and takes the softmax cross-entropy of the positive within its group. It learns the
  distinctions the reranker meets at ranking time: which of the retriever's top hits is the one.

The output is a plain Hugging Face folder plus `ladder_reranker.json` (see cross_encoder.py).
"""
from __future__ import annotations

import json
import math
import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Iterator

from ladder.errors import LadderError
from ladder.retrieval.cross_encoder import FORMAT_VERSION, META_FILE, CrossEncoderReranker, bundled_minilm, read_meta
from ladder.retrieval.protocol import RERANK_DEPTH
from ladder.retrieval.threads import set_bulk
from ladder.retrieval.train_data import (Group, Pair, check_not_test, first_stage, loss_ends, read_beir_split,
                                         write_folder)


@dataclass
class TrainConfig:
    base: str = ""  # model folder to start from; "" = the bundled MiniLM-L6 (22M params)
    max_length: int = 256  # query + passage word pieces; SciFact abstracts median ~280, 256 keeps most of the signal at half the cost of 512
    batch_size: int = 16  # passages per step (listwise: whole groups); small batches = more steps per minute on 2 cores
    lr: float = 4e-5  # the encoder's rate
    head_lr_factor: float = 20.0  # the head's rate = lr x this (it starts random)
    epochs: float = 1.0  # passes over the pairs, or the groups (fractions allowed)
    warmup: float = 0.1  # fraction of steps with a linearly rising learning rate
    weight_decay: float = 0.01
    seed: int = 0
    time_budget: float = 0.0  # seconds; stop early (and say so) when > 0 and exceeded
    threads: int = 0  # torch threads; 0 = torch's default. On a busy shared CPU, 1 can beat 2 (no spin-waiting)
    loss: str = "pointwise"  # "pointwise": BCE per pair; "listwise": softmax over each group (1 positive + negatives)
    group_size: int = 8  # listwise: passages per group; batch_size // group_size groups per step


def train(examples: list[Pair] | list[Group], out_dir: str | Path, cfg: TrainConfig | None = None,
          progress: Callable[[int, int, float], None] | None = None, source: dict | None = None) -> dict:
    """Fine-tune a one-logit cross-encoder on pairs (pointwise loss) or groups (listwise); write it
    atomically to `out_dir`; return the metadata."""
    import torch

    cfg = cfg or TrainConfig()
    examples, per_step, make_batch = _batches(examples, cfg)
    base = cfg.base or bundled_minilm()
    torch.manual_seed(cfg.seed)  # the new head's initial weights
    if cfg.threads:
        set_bulk(cfg.threads)
    rng = random.Random(cfg.seed)  # example order and listwise negatives
    tok, model = _load(base)
    model.train()
    t0, cpu0 = time.perf_counter(), time.process_time()
    total = max(1, int(math.ceil(len(examples) / per_step) * cfg.epochs))
    opt, sched = _optimizer(model, cfg, total, t0)
    step, losses, stopped_early = 0, [], False
    for step, loss in enumerate(_steps(model, tok, examples, per_step, make_batch, opt, sched, cfg, total, rng), 1):
        losses.append(loss)
        if progress:
            progress(step, total, loss)
        if cfg.time_budget and time.perf_counter() - t0 > cfg.time_budget and step < total:
            stopped_early = True
            break
    meta = {
        "format_version": FORMAT_VERSION, "kind": "cross-encoder", "base": base, "config": asdict(cfg),
        **_counts(examples, cfg), "steps": step, "total_steps": total,
        "stopped_early": stopped_early, "train_seconds": round(time.perf_counter() - t0, 1),
        "train_cpu_seconds": round(time.process_time() - cpu0, 1),  # < wall x threads when the CPU is shared
        **loss_ends(losses), "source": source or {},
    }
    model.eval()

    def save(tmp: Path) -> None:
        model.save_pretrained(tmp, safe_serialization=True)
        tok.save_pretrained(tmp)
        (tmp / META_FILE).write_text(json.dumps(meta, indent=1))

    write_folder(out_dir, save)
    return meta


def _load(base: str):
    """(tokenizer, the encoder with a one-logit scoring head) from a local folder."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer
    from transformers.utils import logging as hf_logging

    tok = AutoTokenizer.from_pretrained(base, local_files_only=True)
    level = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # the new scoring head is expected: no "weights MISSING" report
    try:
        model = AutoModelForSequenceClassification.from_pretrained(base, num_labels=1, local_files_only=True)
    finally:
        hf_logging.set_verbosity(level)
    return tok, model


def _optimizer(model, cfg: TrainConfig, total: int, t0: float):
    """AdamW with the head at a higher rate; warm-up, then linear decay over the steps or the time budget."""
    import torch

    warm = max(1, int(total * cfg.warmup))
    # The scoring head (pooler + one-logit classifier) is new or untrained in a sentence embedder:
    # at the encoder's gentle rate it barely moves in a few hundred steps, so it learns faster.
    head, body = [], []
    for name, p in model.named_parameters():
        (head if name.startswith(("classifier", "bert.pooler", "pooler")) else body).append(p)
    opt = torch.optim.AdamW([{"params": body, "lr": cfg.lr}, {"params": head, "lr": cfg.lr * cfg.head_lr_factor}],
                            weight_decay=cfg.weight_decay)

    def lr_factor(s: int) -> float:
        # linear warmup, then linear decay to 0 over the steps, or over the time budget if that ends first,
        # so a run cut short by the budget still finishes at a low learning rate
        done = s / total
        if cfg.time_budget:
            done = max(done, (time.perf_counter() - t0) / cfg.time_budget)
        return min((s + 1) / warm, max(0.02, 1.0 - done))

    return opt, torch.optim.lr_scheduler.LambdaLR(opt, lr_factor)


def _steps(model, tok, examples: list, per_step: int, make_batch: Callable, opt, sched, cfg: TrainConfig,
           total: int, rng: random.Random) -> Iterator[float]:
    """Take up to `total` optimizer steps, yielding each step's loss; a fresh shuffle per pass over the examples."""
    import torch

    order: list[int] = []
    for _ in range(total):
        if not order:
            order = list(range(len(examples)))
            rng.shuffle(order)
        queries, passages, loss_of = make_batch([examples[order.pop()] for _ in range(min(per_step, len(order)))], rng)
        enc = tok(queries, passages, truncation="only_second", max_length=cfg.max_length, padding=True,
                  return_tensors="pt")
        loss = loss_of(model(**enc).logits.squeeze(-1))  # logits: (passages,)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step(); sched.step(); opt.zero_grad()
        yield loss.item()


def _batches(examples: list, cfg: TrainConfig):
    """(the usable examples, examples per step, make_batch(examples, rng) -> (queries, passages, loss(logits)))."""
    import torch
    import torch.nn.functional as F

    if cfg.loss == "pointwise":
        if not examples:
            raise LadderError("no training pairs: the split has no queries with relevant documents")
        if not all(isinstance(e, Pair) for e in examples):
            raise LadderError("the pointwise loss trains on pairs (pairs_from_groups), not groups")
        if not any(p.label > 0.5 for p in examples) or not any(p.label < 0.5 for p in examples):
            raise LadderError("training pairs need both relevant and non-relevant examples")

        def pointwise(batch: list[Pair], rng: random.Random):
            labels = torch.tensor([p.label for p in batch], dtype=torch.float32)
            return ([p.query for p in batch], [p.passage for p in batch],
                    lambda logits: F.binary_cross_entropy_with_logits(logits, labels))

        return examples, cfg.batch_size, pointwise
    if cfg.loss != "listwise":
        raise LadderError(f"unknown loss '{cfg.loss}'; use pointwise or listwise")
    if not 2 <= cfg.group_size <= cfg.batch_size:
        raise LadderError(f"group size {cfg.group_size}: a listwise group needs a positive and at least one negative, "
                          f"and must fit in the batch ({cfg.batch_size} passages)")
    if not examples:
        raise LadderError("no training groups: the split has no queries with relevant documents")
    if not all(isinstance(e, Group) for e in examples):
        raise LadderError("the listwise loss trains on groups (groups_from_beir), not pairs")
    groups = [g for g in examples if g.negatives]
    if not groups:
        raise LadderError("no training groups with hard negatives: the first stage found no non-relevant documents")

    def listwise(batch: list[Group], rng: random.Random):
        queries, passages, sizes = [], [], []
        for g in batch:
            group = [g.positive] + rng.sample(g.negatives, min(cfg.group_size - 1, len(g.negatives)))
            queries += [g.query] * len(group)
            passages += group
            sizes.append(len(group))

        def loss(logits):  # the positive is first in each group
            return torch.stack([F.cross_entropy(part[None], torch.zeros(1, dtype=torch.long))
                                for part in logits.split(sizes)]).mean()

        return queries, passages, loss

    return groups, cfg.batch_size // cfg.group_size, listwise


def _counts(examples: list, cfg: TrainConfig) -> dict[str, int]:
    """What one epoch trains on, for the metadata and the CLI's summary."""
    if cfg.loss == "listwise":
        return {"groups": len(examples), "positives": len(examples),
                "pairs": sum(1 + min(cfg.group_size - 1, len(g.negatives)) for g in examples)}
    return {"pairs": len(examples), "positives": sum(p.label > 0.5 for p in examples)}


BLEND_WEIGHTS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)  # the cross-encoder's weight against the retriever


def tune_blend(model_dir: Path, folder: Path, query_ids: list[str], split: str = "train", depth: int = RERANK_DEPTH,
               method: str = "hybrid", embedder: str = "minilm") -> dict:
    """Pick how to blend the CE with the retriever on held-out TRAIN queries; store it in the model's metadata.

    The candidates are the top `depth` of the first stage (`train_data.first_stage`: the ladder
    index's `method` over the BEIR corpus, built once with `embedder`, cached): tune with the
    first stage you will search with.
    Tried: rank and score blends (`rerank.BLENDS`) at every weight in BLEND_WEIGHTS; weight 1 =
    the cross-encoder alone, 0 = the retriever's order (so a weak reranker cannot make the
    pipeline worse on these queries). Each candidate list is scored by the CE once.
    The chosen blend's paired gain over the retriever alone, with its 95% bootstrap interval, says
    whether the reranker earns its cost; it is optimistic (the best of the grid on the same queries).
    """
    from ladder.evaluation import bootstrap_ci
    from ladder.retrieval.ir_metrics import ndcg_at_k
    from ladder.retrieval.rerank import BLENDS

    if split == "test":
        raise LadderError("refusing to tune on the test split")
    if not query_ids:
        raise LadderError("no held-out queries to tune the blend on; train with --holdout N")
    corpus, queries, qrels = read_beir_split(folder, split)
    check_not_test(folder, split, query_ids)
    search = first_stage(folder, corpus, method, embedder)
    ce = CrossEncoderReranker(model_dir)
    per = {(kind, w): [] for kind in BLENDS for w in BLEND_WEIGHTS}
    for qid in query_ids:
        hits = search(queries[qid], depth)
        reranked = ce.rerank(queries[qid], hits)
        for kind, w in per:
            ranked = [h.doc_id for h in BLENDS[kind](hits, reranked, w)]
            per[(kind, w)].append(ndcg_at_k(ranked, dict.fromkeys(qrels[qid], 1)))
    means = {key: sum(v) / len(v) for key, v in per.items()}
    kind, best = max(means, key=lambda key: (round(means[key], 6), key[1], key[0] == "score"))
    diff = [a - b for a, b in zip(per[(kind, best)], per[("rank", 0.0)])]
    lo, hi = bootstrap_ci(diff)
    tuning = {"kind": kind, "weight": best, "depth": depth, "method": method, "embedder": embedder,
              "n_queries": len(query_ids), "ndcg@10_by_blend": {f"{k}:{w}": round(m, 4) for (k, w), m in means.items()},
              "gain_over_retriever": {"mean": round(sum(diff) / len(diff), 4), "ci95_paired": [round(lo, 4), round(hi, 4)]}}
    meta_path = Path(model_dir) / META_FILE
    meta = read_meta(model_dir)
    meta.update({"blend_weight": best, "blend_kind": kind, "blend_tuning": tuning})
    tmp = meta_path.with_suffix(".tmp")
    tmp.write_text(json.dumps(meta, indent=1))
    tmp.replace(meta_path)
    return tuning
"""Fine-tune the dense embedder on a BEIR train split, so dense retrieval learns the domain.

A general-purpose embedder (the bundled MiniLM) does not know that a scientific claim and the
abstract that supports it belong together. A few minutes of contrastive training on the train
queries and their relevant documents teach it. Loss: multiple-negatives ranking (InfoNCE): each
query against its relevant document, every other document in the batch, and BM25 hard negatives
(non-relevant documents that share its words), on cosine similarity times `scale`.

The result is a sentence-transformers folder: `ladder index CORPUS --embedder DIR` uses it, and
the index records which embedder it was built with. Test queries are refused (`train_data.groups_from_beir`).
"""
from __future__ import annotations

import json
import math
import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

from ladder.errors import LadderError
from ladder.retrieval.cross_encoder import bundled_minilm
from ladder.retrieval.threads import set_bulk
from ladder.retrieval.train_data import Group, groups_from_beir, loss_ends, write_folder

META_FILE = "ladder_embedder.json"


@dataclass
class EmbedderConfig:
    base: str = ""  # sentence-transformers folder to start from; "" = the bundled MiniLM-L6
    epochs: float = 3.0
    batch_size: int = 32  # queries per step: each sees 31 in-batch negatives plus the hard ones
    lr: float = 3e-5
    scale: float = 20.0  # cosine similarity x scale = the softmax logits
    max_length: int = 256  # word pieces per document
    warmup: float = 0.1
    seed: int = 0
    threads: int = 0  # torch threads; 0 = torch's default


def triples_from_beir(folder: Path, split: str = "train", negatives: int = 1, pool: int = 30,
                      holdout: int = 0, seed: int = 0) -> tuple[list[Group], list[str]]:
    """(one (query, relevant document, `negatives` BM25 hard negatives) per relevant pair, held-out query ids)."""
    groups, held = groups_from_beir(folder, split, pool, holdout=holdout, seed=seed)
    rng = random.Random(seed)
    triples = [Group(g.query, g.positive, rng.sample(g.negatives, min(negatives, len(g.negatives)))) for g in groups]
    if len(triples) < 4:
        raise LadderError(f"{folder}: only {len(triples)} relevant (query, document) pairs in '{split}'; "
                          "contrastive fine-tuning needs at least 4")
    return triples, held


def train_embedder(triples: list[Group], out_dir: str | Path, cfg: EmbedderConfig | None = None,
                   progress: Callable[[int, int, float], None] | None = None, source: dict | None = None) -> dict:
    """Contrastive fine-tuning; the folder is written atomically; returns the metadata."""
    import torch
    import torch.nn.functional as F
    from sentence_transformers import SentenceTransformer

    cfg = cfg or EmbedderConfig()
    if cfg.threads:
        set_bulk(cfg.threads)
    torch.manual_seed(cfg.seed)
    rng = random.Random(cfg.seed)
    base = cfg.base or bundled_minilm()
    model = SentenceTransformer(base, device="cpu", local_files_only=True)
    model.max_seq_length = cfg.max_length
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=0.01)
    per_epoch = math.ceil(len(triples) / cfg.batch_size)
    total = max(1, math.ceil(per_epoch * cfg.epochs))
    warm = max(1, int(cfg.warmup * total))
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min((s + 1) / warm, max(0.0, (total - s) / (total - warm + 1))))

    def encode(texts: list[str]):
        features = (getattr(model, "preprocess", None) or model.tokenize)(texts)
        return F.normalize(model(features)["sentence_embedding"], dim=-1)

    t0, cpu0 = time.perf_counter(), time.process_time()
    order: list[int] = []
    losses: list[float] = []
    for step in range(1, total + 1):
        if len(order) < cfg.batch_size:
            order = list(range(len(triples)))
            rng.shuffle(order)
        batch = [triples[order.pop()] for _ in range(min(cfg.batch_size, len(order)))]
        q = encode([t.query for t in batch])
        docs = encode([t.positive for t in batch] + [n for t in batch for n in t.negatives])
        logits = cfg.scale * q @ docs.T  # (B, B + hard negatives); row i's answer is column i
        loss = F.cross_entropy(logits, torch.arange(len(batch)))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        opt.zero_grad()
        losses.append(loss.item())
        if progress:
            progress(step, total, losses[-1])
    meta = {"kind": "embedder", "base": base, "config": asdict(cfg), "triples": len(triples), "steps": total,
            "train_seconds": round(time.perf_counter() - t0, 1), "train_cpu_seconds": round(time.process_time() - cpu0, 1),
            **loss_ends(losses), "source": source or {}}
    model.eval()

    def save(tmp: Path) -> None:
        model.save(str(tmp))
        (tmp / META_FILE).write_text(json.dumps(meta, indent=1))

    write_folder(out_dir, save)
    return meta

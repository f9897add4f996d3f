"""The training half of `ladder adapt` (see adapt.py): embedder, re-embedded index, cross-encoder and
its blend, all from synthetic (query, source passage) pairs with first-stage hard negatives."""
from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Callable

from ladder.retrieval.cross_encoder import META_FILE, passage_text, read_meta
from ladder.retrieval.protocol import RERANK_DEPTH
from ladder.retrieval.train_data import Group

BLEND_WEIGHTS = (0.0, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 1.0)


def groups(pairs: list[tuple[dict, list]], pool: int) -> list[Group]:
    """One group per kept synthetic query: its source passage, and as negatives the other documents
    among the first stage's top `pool` (same-document passages are left out: they may answer it too)."""
    out = []
    for row, hits in pairs:
        negs = [passage_text(h.title, h.text) for h in hits[:pool] if h.doc_id != row["doc_id"]]
        out.append(Group(row["query"], passage_text(row["title"], row["text"]), negs, str(row["pos"])))
    return out


def train_adapted(index, out: Path, train: list, held: list, cfg, progress: Callable | None = None,
                  teacher=None) -> dict:
    """Train what `cfg` asks for into `out`/embedder, `out`/index, `out`/reranker; return manifest entries.
    With a `teacher`, the cross-encoder learns the teacher's soft labels (pointwise) instead of the
    source passages (listwise). Models an earlier run left that this run does not train are removed,
    so `load_adapted` never serves a model the manifest does not describe."""
    for folder, trained in (("embedder", cfg.embedder), ("index", cfg.embedder), ("reranker", cfg.reranker)):
        if not trained:
            shutil.rmtree(out / folder, ignore_errors=True)
    info: dict = {"seconds": {}, "models": {}}
    data = groups(train, cfg.pool)
    first = index
    if cfg.embedder:
        from ladder.retrieval.train_embedder import EmbedderConfig, train_embedder

        t = time.perf_counter()
        triples = [Group(g.query, g.positive, g.negatives[:1], g.qid) for g in data]
        meta = train_embedder(triples, out / "embedder", EmbedderConfig(epochs=cfg.embedder_epochs, seed=cfg.seed,
                                                                         threads=cfg.threads),
                              progress=(lambda s, n, loss: progress("embedder", s, n)) if progress else None,
                              source={"synthetic_queries": len(triples)})
        info["seconds"]["train_embedder"] = round(time.perf_counter() - t, 1)
        t = time.perf_counter()
        first = reembed(index, out / "embedder", out / "index")
        info["seconds"]["reembed_index"] = round(time.perf_counter() - t, 1)
        info["models"]["embedder"] = {"folder": "embedder", "steps": meta["steps"], "loss_first": meta["loss_first"],
                                      "loss_last": meta["loss_last"]}
    if cfg.reranker:
        from ladder.retrieval.train_reranker import TrainConfig, train

        examples, source = [g for g in data if g.negatives], {"synthetic_queries": len(data), "label_free": True}
        if teacher is not None:
            t = time.perf_counter()
            examples = teacher_labels(examples, teacher, cfg.teacher_candidates,
                                      (lambda n, m: progress("teacher", n, m)) if progress else None)
            info["seconds"]["teacher_labels"] = round(time.perf_counter() - t, 1)
            source["teacher"] = {"reranker": teacher.name, "pairs": len(examples),
                                 "pairs_per_second": round(len(examples) / max(info["seconds"]["teacher_labels"], 1e-9), 2)}
        t = time.perf_counter()
        tc = TrainConfig(base=str(out / "embedder") if cfg.embedder else "", epochs=cfg.reranker_epochs,
                         loss="pointwise" if teacher is not None else "listwise",
                         time_budget=cfg.reranker_minutes * 60, seed=cfg.seed, threads=cfg.threads)
        meta = train(examples, out / "reranker", tc,
                     progress=(lambda s, n, loss: progress("reranker", s, n)) if progress else None, source=source)
        info["seconds"]["train_reranker"] = round(time.perf_counter() - t, 1)
        info["models"]["reranker"] = {"folder": "reranker", "steps": meta["steps"], "stopped_early": meta["stopped_early"],
                                      "loss": tc.loss, "loss_first": meta["loss_first"], "loss_last": meta["loss_last"],
                                      **({"teacher": source["teacher"]} if teacher is not None else {})}
        t = time.perf_counter()
        info["models"]["reranker"]["blend"] = choose_blend(first, out / "reranker", held)
        info["seconds"]["choose_blend"] = round(time.perf_counter() - t, 1)
    return info


def teacher_labels(groups: list[Group], teacher, candidates: int, progress: Callable | None = None) -> list:
    """Pointwise training pairs: per synthetic query, its source passage and first-stage negatives (up to
    `candidates` passages), each labelled with the teacher's relevance in [0, 1]."""
    from ladder.retrieval.hit import Hit
    from ladder.retrieval.train_data import Pair

    pairs = []
    for n, g in enumerate(groups, 1):
        texts = [g.positive, *g.negatives[:max(candidates - 1, 0)]]
        labels = teacher.relevance(g.query, [Hit(str(i), 0.0, text) for i, text in enumerate(texts)])
        pairs += [Pair(g.query, text, float(label)) for text, label in zip(texts, labels)]
        if progress:
            progress(n, len(groups))
    return pairs


def reembed(index, embedder_dir: Path, out: Path):
    """A copy of the (local) index whose dense vectors come from `embedder_dir`; BM25 and passages unchanged."""
    import numpy as np

    from ladder.retrieval.dense import embed
    from ladder.retrieval.index import Index, write_index_manifest

    src = Path(index.path)
    texts = [f"{p.title}\n{p.text}" if p.title else p.text for p in index.passages]
    vectors = embed(texts, model=str(embedder_dir.resolve()))
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(src, tmp, ignore=shutil.ignore_patterns("dense.npy"))
    np.save(tmp / "dense.npy", vectors, allow_pickle=False)
    manifest = json.loads((tmp / "manifest.json").read_text())
    manifest.update({"embedder": str(embedder_dir.resolve()), "dim": int(vectors.shape[1]), "adapted_from": str(src)})
    write_index_manifest(tmp, manifest)  # the file table must list the new dense.npy
    shutil.rmtree(out, ignore_errors=True)
    tmp.replace(out)
    return Index.load(out)


def choose_blend(index, reranker_dir: Path, held: list, method: str = "hybrid") -> dict:
    """The cross-encoder's blend with the first stage, chosen on held-out synthetic queries (their
    source document is the relevant one); written into the reranker's metadata. Weight 0 (the first
    stage alone) is in the grid, so a reranker that does not help on them is switched off."""
    from ladder.retrieval.cross_encoder import CrossEncoderReranker
    from ladder.retrieval.ir_metrics import mean_ci, ndcg_at_k
    from ladder.retrieval.rerank import BLENDS

    if not held:
        return {"kind": "rank", "weight": 1.0, "chosen_on": "no held-out synthetic queries: the reranker alone"}
    ce = CrossEncoderReranker(reranker_dir)
    per: dict[tuple[str, float], list[float]] = {(k, w): [] for k in BLENDS for w in BLEND_WEIGHTS}
    for row, _ in held:
        hits = index.search(row["query"], k=RERANK_DEPTH, method=method, per_doc=True)
        ranked = ce.rerank(row["query"], hits)
        for kind, w in per:
            per[(kind, w)].append(ndcg_at_k([h.doc_id for h in BLENDS[kind](hits, ranked, w)], {row["doc_id"]: 1}))
    means = {key: sum(v) / len(v) for key, v in per.items()}
    kind, weight = max(means, key=lambda key: (round(means[key], 6), -key[1]))  # ties: the cheaper, lower weight
    m, lo, hi = mean_ci([a - b for a, b in zip(per[(kind, weight)], per[("rank", 0.0)])])
    tuning = {"kind": kind, "weight": weight, "n_queries": len(held), "chosen_on": "held-out synthetic queries",
              "ndcg@10_by_blend": {f"{k}:{w}": round(v, 4) for (k, w), v in means.items()},
              "gain_over_first_stage": {"mean": round(m, 4), "ci95": [round(lo, 4), round(hi, 4)]}}
    meta = read_meta(reranker_dir)
    meta.update({"blend_weight": weight, "blend_kind": kind, "blend_tuning": tuning})
    tmp = reranker_dir / (META_FILE + ".tmp")
    tmp.write_text(json.dumps(meta, indent=1))
    tmp.replace(reranker_dir / META_FILE)
    return tuning

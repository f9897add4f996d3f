"""Training data from a BEIR split, shared by the reranker and the embedder trainers.

Positives come from the split's qrels; hard negatives are the non-relevant documents among a
first stage's top results (BM25, or the ladder index's dense or hybrid search). Test qrels are
refused (`check_not_test`), and `holdout` train queries can be kept aside to tune on. Also here:
the atomic model-folder writer and the loss summary both trainers record.
"""
from __future__ import annotations

import json
import os
import random
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

from ladder.errors import LadderError
from ladder.retrieval.cross_encoder import passage_text
from ladder.retrieval.hit import Hit


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
    qrels = read_qrels(qrels_path)
    queries = {}
    for row in _jsonl(folder / "queries.jsonl"):
        if row["_id"] in qrels:
            queries[str(row["_id"])] = row["text"]
    corpus = {str(r["_id"]): {"title": r.get("title", ""), "text": r.get("text", "")} for r in _jsonl(folder / "corpus.jsonl")}
    return corpus, queries, qrels


def read_qrels(path: Path) -> dict[str, set[str]]:
    """query id -> relevant doc ids, from a BEIR qrels TSV (header optional, scores > 0 kept)."""
    qrels: dict[str, set[str]] = {}
    for n, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        cols = line.split("\t")
        if len(cols) < 3 or (n == 1 and not cols[2].strip().lstrip("-").isdigit()):
            continue  # header or blank
        if int(cols[2]) > 0:
            qrels.setdefault(cols[0], set()).add(cols[1])
    return qrels


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
        raise LadderError("refusing to train on the test split; use --split train (or dev)")
    test_qrels = Path(folder) / "qrels" / "test.tsv"
    if test_qrels.exists():
        overlap = set(query_ids) & set(read_qrels(test_qrels))  # the test query ids, without re-reading the corpus
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


def first_stage(folder: Path, corpus: dict[str, dict], method: str = "bm25",
                embedder: str = "minilm") -> Callable[[str, int], list[Hit]]:
    """`search(query, n) -> list[Hit]` over a BEIR corpus: plain BM25 (`method` "bm25"), or the
    ladder index's "dense" or "hybrid" search built with `embedder` (cached): the first stage the
    reranker will sit behind, to mine its negatives and tune its blend on."""
    if method == "bm25":
        return bm25_candidates(corpus)
    from ladder.retrieval.chunk import Chunking
    from ladder.retrieval.index import open_index

    index = open_index(folder, chunking=Chunking("none"), embedder=embedder)
    return lambda q, n: index.search(q, k=n, method=method, per_doc=True)


@dataclass
class Group:
    query: str
    positive: str
    negatives: list[str]  # non-relevant passages from the first stage's top results, best first
    qid: str = ""


def groups_from_beir(folder: Path, split: str = "train", pool: int = 30, max_queries: int | None = None,
                     seed: int = 0, holdout: int = 0, method: str = "bm25",
                     embedder: str = "minilm") -> tuple[list[Group], list[str]]:
    """(one group per relevant (query, document), held-out query ids). Each group carries the
    non-relevant documents among the first stage's top `pool` (`first_stage`) as hard negatives;
    `holdout` queries are left out (see `split_queries`)."""
    corpus, queries, qrels = read_beir_split(folder, split)
    check_not_test(folder, split, list(queries))
    qids, held = split_queries(list(queries), holdout, max_queries, seed)
    search = first_stage(folder, corpus, method, embedder)
    groups = []
    for qid in qids:
        q = queries[qid]
        negs = [passage_text(h.title, h.text) for h in search(q, pool) if h.doc_id not in qrels[qid]]
        groups += [Group(q, passage_text(corpus[d]["title"], corpus[d]["text"]), negs, qid)
                   for d in sorted(qrels[qid]) if d in corpus]
    return groups, held


def pairs_from_groups(groups: list[Group], negatives: int = 4, seed: int = 0) -> list[Pair]:
    """Pointwise data: per query (a run of groups with one `qid`), its positives, then `negatives`
    hard negatives drawn once."""
    from itertools import groupby

    rng, pairs = random.Random(seed), []
    for _, run in groupby(groups, key=lambda g: (g.qid, g.query)):
        run = list(run)
        pairs += [Pair(g.query, g.positive, 1.0) for g in run]
        negs = run[0].negatives
        pairs += [Pair(run[0].query, n, 0.0) for n in rng.sample(negs, min(negatives, len(negs)))]
    return pairs


def pairs_from_beir(folder: Path, split: str = "train", negatives: int = 4, pool: int = 30,
                    max_queries: int | None = None, seed: int = 0, holdout: int = 0) -> tuple[list[Pair], list[str]]:
    """(pairs, held-out query ids): `pairs_from_groups` over BM25 groups."""
    groups, held = groups_from_beir(folder, split, pool, max_queries, seed, holdout)
    return pairs_from_groups(groups, negatives, seed), held


def pairs_from_teacher(queries: list[str], candidates: Callable[[str], list[Hit]], teacher) -> list[Pair]:
    """Distillation data: the teacher reranker's relevance (0..1) for each retrieved candidate."""
    pairs: list[Pair] = []
    for q in queries:
        hits = candidates(q)
        for h, p in zip(hits, teacher.relevance(q, hits)):
            pairs.append(Pair(q, passage_text(h.title, h.text), float(p)))
    return pairs


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


def teacher_pairs(folder: Path, split: str, teacher: str, candidates: int, max_queries: int | None,
                  seed: int) -> tuple[list, dict]:
    """(pairs, source): BM25 candidates of a BEIR split's queries, labelled by an LLM pointwise reranker
    (a distilled reranker's training data); the test split is refused."""
    from ladder.retrieval.rerank import load_reranker

    corpus, queries, _ = read_beir_split(folder, split)
    check_not_test(folder, split, list(queries))
    qids, _ = split_queries(list(queries), max_queries=max_queries, seed=seed)
    rr = load_reranker(teacher)
    if not hasattr(rr, "relevance"):
        raise LadderError(f"--teacher must be an LLM pointwise reranker (pointwise:<model>), got '{teacher}'")
    search = bm25_candidates(corpus)
    pairs = pairs_from_teacher([queries[q] for q in qids], lambda q: search(q, candidates), rr)
    source = {"beir": str(folder), "split": split, "labels": f"teacher {rr.name}", "candidates": candidates,
              "max_queries": max_queries, "teacher_pairs_per_second": round(rr.pairs_per_second, 3)}
    return pairs, source

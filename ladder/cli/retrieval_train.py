"""`ladder train-reranker`, `ladder train-embedder`: thin over ladder.retrieval's trainers."""
from __future__ import annotations

import contextlib
import json
import sys
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import click

from ladder.cli.common import console, train_minutes, train_minutes_option
from ladder.errors import LadderError


@contextlib.contextmanager
def training_bar(quiet: bool) -> Iterator[Callable[[int, int, float], None]]:
    """A progress bar with the loss on stderr; yields step(done, total, loss). When stderr is a
    log file rather than a terminal (nohup, CI), a plain line a minute instead."""
    if not quiet and not sys.stderr.isatty():
        start, last = time.monotonic(), None

        def line(done: int, total: int, loss: float) -> None:
            nonlocal last
            now = time.monotonic()
            if last is not None and now - last < 60 and done < total:
                return
            last, spent = now, now - start
            eta = f", eta {spent / done * (total - done) / 60:.0f} min" if done else ""
            print(f"training: step {done}/{total}, loss {loss:.3f}, {spent / 60:.1f} min{eta}", file=sys.stderr, flush=True)

        yield line
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    with Progress(TextColumn("training"), BarColumn(), MofNCompleteColumn(), TextColumn("loss {task.fields[loss]}"),
                  TimeElapsedColumn(), TimeRemainingColumn(), console=console(stderr=True), disable=quiet) as bar:
        tid = bar.add_task("train", total=None, loss="-")
        yield lambda done, total, loss: bar.update(tid, completed=done, total=total, loss=f"{loss:.3f}")


@click.command(name="train-reranker")
@click.argument("beir_dir", type=click.Path(file_okay=False))
@click.option("--split", default="train", show_default=True, help="Qrels split to learn from (never test).")
@click.option("--out", "out_dir", default=None, help="Output folder. Default: $LADDER_HOME/rerankers/default.")
@click.option("--teacher", default=None,
              help="Distil from an LLM reranker (e.g. pointwise:qwen2.5-coder-0.5b) instead of the qrels labels.")
@click.option("--candidates", default=10, show_default=True, help="With --teacher: BM25 candidates labelled per query.")
@click.option("--negatives", default=4, show_default=True, help="Pointwise: hard negatives (non-relevant) per query.")
@click.option("--pool", default=30, show_default=True, help="Draw hard negatives from this many first-stage results.")
@click.option("--mine-with", "mine_with", type=click.Choice(["bm25", "dense", "hybrid"]), default="bm25",
              show_default=True, help="First stage the hard negatives come from (dense and hybrid use --embedder).")
@click.option("--loss", type=click.Choice(["pointwise", "listwise"]), default="pointwise", show_default=True,
              help="pointwise: BCE per pair; listwise: softmax over groups of 1 relevant + hard negatives.")
@click.option("--group-size", default=8, show_default=True, help="Listwise: passages per group.")
@click.option("--max-queries", type=int, default=None, help="Use a seeded sample of N training queries.")
@click.option("--holdout", default=0, show_default=True,
              help="Keep N seeded training queries out of training (ids saved in the metadata) to tune on.")
@click.option("--tune-blend", is_flag=True,
              help="After training, pick the CE/hybrid blend (rank or score, and weight) on the --holdout queries "
                   "(saved with the model).")
@click.option("--embedder", default="minilm", show_default=True,
              help="First-stage embedder (blend tuning, --mine-with dense/hybrid): minilm, or a 'ladder train-embedder' folder.")
@click.option("--threads", default=0, show_default=True, help="Torch threads (0 = default; 1 can win on a busy CPU).")
@click.option("--epochs", default=1.0, show_default=True, help="Passes over the training pairs (listwise: groups).")
@click.option("--batch-size", default=16, show_default=True, help="Passages per step (listwise: whole groups).")
@click.option("--lr", default=4e-5, show_default=True)
@click.option("--max-length", default=256, show_default=True, help="Word pieces per (query, passage) pair.")
@train_minutes_option
@click.option("--base", default="", help="Start from this model folder (default: the bundled MiniLM-L6).")
@click.option("--seed", default=0, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")
def train_reranker(beir_dir: str, split: str, out_dir: str | None, teacher: str | None, candidates: int,
                   negatives: int, pool: int, mine_with: str, loss: str, group_size: int, max_queries: int | None,
                   holdout: int, tune_blend: bool, embedder: str, threads: int, epochs: float, batch_size: int,
                   lr: float, max_length: int, base: str, seed: int, as_json: bool, **limit: Any) -> None:
    """Fine-tune a cross-encoder reranker from the bundled MiniLM on a BEIR train split (or distil an LLM reranker).

    \b
    Example:
      ladder train-reranker ../shared/data/beir/scifact --split train --train-minutes 20
      ladder train-reranker ../shared/data/beir/scifact --loss listwise --mine-with hybrid --embedder E \
          --base E --batch-size 32 --epochs 2 --holdout 100 --tune-blend   # the measured recipe (docs/retrieval.md)
      ladder search idx/ "query" --rerank cross-encoder
    """
    from ladder.retrieval import train_data as td
    from ladder.retrieval import train_reranker as tr
    from ladder.retrieval.rerank import default_cross_encoder_dir

    folder = Path(beir_dir)
    out = Path(out_dir) if out_dir else default_cross_encoder_dir()
    if teacher and loss == "listwise":
        raise LadderError("--teacher gives soft labels per pair: use it with --loss pointwise")
    if teacher and mine_with != "bm25":
        raise LadderError("--teacher labels BM25 candidates (--candidates); --mine-with applies to qrels training")
    if tune_blend and (teacher or not holdout):
        raise LadderError("--tune-blend needs --holdout N (and qrels labels, not --teacher)")
    out.parent.mkdir(parents=True, exist_ok=True)
    if teacher:
        examples, source = td.teacher_pairs(folder, split, teacher, candidates, max_queries, seed)
    else:
        groups, held = td.groups_from_beir(folder, split, pool, max_queries, seed, holdout, mine_with, embedder)
        examples = groups if loss == "listwise" else td.pairs_from_groups(groups, negatives, seed)
        source = {"beir": str(folder), "split": split, "labels": "qrels", "mined_with": mine_with, "pool": pool,
                  "negatives": negatives if loss == "pointwise" else None, "max_queries": max_queries,
                  "holdout_query_ids": held, **({"embedder": embedder} if mine_with != "bm25" else {})}
    cfg = tr.TrainConfig(base=base, max_length=max_length, batch_size=batch_size, lr=lr, epochs=epochs, seed=seed,
                         time_budget=60 * (train_minutes(limit) or 0.0), threads=threads, loss=loss,
                         group_size=group_size)
    with training_bar(as_json) as step:
        meta = tr.train(examples, out, cfg, step, source=source)
    if tune_blend:
        meta["blend_tuning"] = tr.tune_blend(out, folder, meta["source"]["holdout_query_ids"], split, embedder=embedder)
    meta["out"] = str(out)
    if as_json:
        click.echo(json.dumps(meta, indent=2))
        return
    note = " (stopped at the time budget)" if meta["stopped_early"] else ""
    console().print(f"trained on {meta['pairs']} pairs ({meta['positives']} relevant), {meta['steps']} steps in "
                    f"{meta['train_seconds']:.0f}s{note}; loss {meta['loss_first']} -> {meta['loss_last']}\n"
                    f"saved to {out}; use it with --rerank cross-encoder:{out}")
    if "blend_tuning" in meta:
        t = meta["blend_tuning"]
        chosen = t["ndcg@10_by_blend"][f"{t['kind']}:{t['weight']}"]
        g = t["gain_over_retriever"]
        console().print(f"blend: {t['kind']}, cross-encoder weight {t['weight']} (nDCG@10 {chosen} on {t['n_queries']} "
                        f"held-out train queries; the retriever alone {t['ndcg@10_by_blend']['rank:0.0']}; "
                        f"gain {g['mean']:+.3f} [{g['ci95_paired'][0]:+.3f}, {g['ci95_paired'][1]:+.3f}] paired)")
        if g["ci95_paired"][0] <= 0:
            console().print("the reranker has not shown a gain on these queries: searching without --rerank is "
                            "as good within the noise, and cheaper; more labels or a stronger base may change that")


@click.command(name="train-embedder")
@click.argument("beir_dir", type=click.Path(file_okay=False))
@click.option("--out", "out_dir", required=True, help="Output folder (a sentence-transformers model).")
@click.option("--split", default="train", show_default=True, help="Qrels split to learn from (never test).")
@click.option("--negatives", default=1, show_default=True, help="BM25 hard negatives per (query, relevant doc).")
@click.option("--holdout", default=0, show_default=True, help="Keep N seeded training queries out (ids saved).")
@click.option("--epochs", default=3.0, show_default=True)
@click.option("--batch-size", default=32, show_default=True, help="Queries per step (in-batch negatives).")
@click.option("--lr", default=3e-5, show_default=True)
@click.option("--max-length", default=256, show_default=True, help="Word pieces per document.")
@click.option("--threads", default=0, show_default=True, help="Torch threads (0 = default).")
@click.option("--seed", default=0, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")
def train_embedder(beir_dir: str, out_dir: str, split: str, negatives: int, holdout: int, epochs: float,
                   batch_size: int, lr: float, max_length: int, threads: int, seed: int, as_json: bool) -> None:
    """Fine-tune the dense embedder (bundled MiniLM) on a BEIR train split: in-batch and BM25 hard negatives.

    \b
    Example:
      ladder train-embedder ../shared/data/beir/scifact --out runs/scifact-embedder
      ladder index ../shared/data/beir/scifact --embedder runs/scifact-embedder --out idx/scifact-ft
    """
    from ladder.retrieval.train_embedder import EmbedderConfig, train_embedder as run, triples_from_beir

    folder = Path(beir_dir)
    triples, held = triples_from_beir(folder, split, negatives=negatives, holdout=holdout, seed=seed)
    cfg = EmbedderConfig(epochs=epochs, batch_size=batch_size, lr=lr, max_length=max_length, seed=seed, threads=threads)
    source = {"beir": str(folder), "split": split, "negatives": negatives, "holdout_query_ids": held}
    with training_bar(as_json) as step:
        meta = run(triples, out_dir, cfg, step, source=source)
    meta["out"] = out_dir
    if as_json:
        click.echo(json.dumps(meta, indent=2))
        return
    console().print(f"trained on {meta['triples']} (query, relevant doc) pairs, {meta['steps']} steps in "
                    f"{meta['train_seconds']:.0f}s; loss {meta['loss_first']} -> {meta['loss_last']}\n"
                    f"saved to {out_dir}; index with it: ladder index CORPUS --embedder {out_dir}")

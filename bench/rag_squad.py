"""The rag rung against zero-shot on SQuAD questions (token F1, 95% CI), same questions, same models.

Corpus: the 1,628 SQuAD dev paragraphs (`squad/retrieval/corpus.jsonl`),
indexed by the rag rung (hybrid, cached under $LADDER_HOME). Questions: a
seeded sample of `squad/qa` (the test split of the task); the corpus holds
paragraphs, never questions, and the rung's leak check runs on compile.
Both rungs answer with at most 32 new tokens, stopping at a newline (applied
to both alike, so a rambling small model does not dominate the run time).

    python bench/rag_squad.py [--n 100] [--models smollm2-135m,qwen2.5-coder-0.5b] [--k 3]
"""
from __future__ import annotations

import argparse
import json
import os
import random

from common import load_model_threads, need_data, write

os.environ.setdefault("HF_HUB_OFFLINE", "1")

INSTRUCTION = "Answer the question with a short phrase of a few words. Do not explain."


class Capped:
    """A model wrapper applying the same short answer budget to every rung."""

    def __init__(self, model, max_tokens=32):
        self.model, self.max_tokens = model, max_tokens
        self.name, self.scores_choices, self.local, self.params = model.name, False, model.local, model.params

    @property
    def fingerprint(self):
        return self.model.fingerprint

    def complete(self, messages, *, max_tokens=256, temperature=0.0, stop=None, choices=None):
        return self.model.complete(messages, max_tokens=min(max_tokens, self.max_tokens), temperature=temperature,
                                   stop=(stop or []) + ["\n"])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=60)
    ap.add_argument("--models", default="smollm2-135m,qwen2.5-coder-0.5b")
    ap.add_argument("--k", type=int, default=3)
    ap.add_argument("--method", default="hybrid")
    ap.add_argument("--rungs", default="zero-shot,rag", help="run a subset (e.g. in parallel processes sharing the store)")
    ap.add_argument("--report-only", action="store_true", help="score the stored predictions, run nothing")
    ap.add_argument("--name", default="rag_squad", help="results file name under bench/results/")
    ap.add_argument("--threads", type=int, default=1, help="llama.cpp threads for bundled models (0 = default)")
    args = ap.parse_args()
    qa_path = need_data("squad", "qa", "train.jsonl")
    corpus = need_data("squad", "retrieval", "corpus.jsonl")

    from ladder.evaluation import evaluate
    from ladder.rungs import get_rung
    from ladder.store import Store

    # predictions are committed as they are made: an interrupted run resumes where it stopped
    store = Store(os.path.join(os.environ.get("LADDER_HOME", os.path.expanduser("~/.cache/ladder")), "bench_rag_squad.db"))
    from ladder.task import Task

    if args.report_only:
        return report_only(args, store)
    rows = [json.loads(line) for line in open(qa_path, encoding="utf-8")]
    rng = random.Random(0)
    rng.shuffle(rows)
    test, train = rows[: args.n], rows[args.n: args.n + 200]
    keep = ("id", "question", "answers", "context")
    task = Task("squad", INSTRUCTION, "{question}", "answers", train=[{k: r[k] for k in keep} for r in train],
                test=[{k: r[k] for k in keep} for r in test], metric="token_f1", corpus=str(corpus))

    results, retrieval = [], None
    for spec in args.models.split(","):
        model = Capped(load_model_threads(spec, args.threads))
        for rung, opts in (("zero-shot", None), ("rag", {"k": args.k, "method": args.method, "progress": True})):
            if rung not in args.rungs.split(","):
                continue
            prog = get_rung(rung)(task, model, opts)
            if rung == "rag" and retrieval is None:
                retrieval = gold_in_prompt(prog, task)
            # example i is the same question for every --n (the first n of one seeded shuffle), so runs of
            # different sizes share predictions
            key = run_key(spec, rung, args)
            store.start_run(key, task="squad", rung=rung, model=spec, n=args.n)
            res = evaluate(prog, task.test, "token_f1", expected=task.expected, store=store, run_key=key)
            row = {"model": spec, "rung": rung, "token_f1": round(res.score, 4), "ci95": [round(res.ci_low, 4),
                   round(res.ci_high, 4)], "n": res.n, "errors": res.errors, "latency_p50_s": round(res.latency_p50, 3),
                   "latency_p95_s": round(res.latency_p95, 3), "tokens_in": res.usage.tokens_in,
                   "tokens_out": res.usage.tokens_out, "seconds": round(res.usage.seconds, 1),
                   "one_time_seconds": round(prog.one_time.seconds, 1),
                   "examples": [{"q": r.get("input", "")[:80], "out": r.get("output"), "score": r.get("score")}
                                for r in res.rows[:3]],
                   "scores": [r.get("score") or 0.0 for r in res.rows]}
            print(json.dumps({k: v for k, v in row.items() if k not in ("examples", "scores")}), flush=True)
            results.append(row)
            write(args.name, {"partial": True, "results": results})
        model.model.close()
    for spec in args.models.split(","):  # both rungs on the same questions: the gain is paired
        z = [r for r in results if r["model"] == spec and r["rung"] == "zero-shot"]
        g = [r for r in results if r["model"] == spec and r["rung"] == "rag"]
        if z and g:
            from ladder.evaluation import bootstrap_ci

            diff = [b - a for a, b in zip(z[0]["scores"], g[0]["scores"])]
            lo, hi = bootstrap_ci(diff)
            g[0]["gain_over_zero_shot"] = {"mean": round(sum(diff) / len(diff), 4), "ci95_paired": [round(lo, 4), round(hi, 4)]}
    write(args.name, {"dataset": "squad/qa (SQuAD v1.1 dev)", "corpus": "squad/retrieval/corpus.jsonl",
                      "load_average_1m": os.getloadavg()[0],  # the CPU was shared: seconds are inflated
                      "n_questions": args.n, "k": args.k, "method": args.method, "max_new_tokens": 32,
                      "gold_paragraph_in_prompt": retrieval, "results": results})


def run_key(spec: str, rung: str, args) -> str:
    return f"rag_squad:{spec}:{rung}:k{args.k}:{args.method}"


def report_only(args, store) -> None:
    """Score what the store holds (paired: questions answered by both rungs), without running a model."""
    from ladder.evaluation import bootstrap_ci

    out = []
    for spec in args.models.split(","):
        preds = {rung: store.predictions(run_key(spec, rung, args)) for rung in ("zero-shot", "rag")}
        both = sorted(set(preds["zero-shot"]) & set(preds["rag"]))
        if not both:
            continue
        row = {"model": spec, "n_paired": len(both)}
        for rung, p in preds.items():
            vals = [p[i]["score"] or 0.0 for i in both]
            lo, hi = bootstrap_ci(vals)
            secs = [p[i]["usage"].get("seconds", 0.0) for i in both]
            row[rung] = {"token_f1": round(sum(vals) / len(vals), 4), "ci95": [round(lo, 4), round(hi, 4)],
                         "tokens_in_per_q": round(sum(p[i]["usage"].get("tokens_in", 0) for i in both) / len(both), 1),
                         "seconds_per_q": round(sum(secs) / len(secs), 2)}
        diff = [(preds["rag"][i]["score"] or 0.0) - (preds["zero-shot"][i]["score"] or 0.0) for i in both]
        lo, hi = bootstrap_ci(diff)
        row["gain_rag_minus_zero_shot"] = {"mean": round(sum(diff) / len(diff), 4), "ci95_paired": [round(lo, 4), round(hi, 4)]}
        out.append(row)
    write(args.name, {"dataset": "squad/qa (SQuAD v1.1 dev), seeded sample", "corpus": "squad/retrieval/corpus.jsonl",
                      "k": args.k, "method": args.method, "max_new_tokens": 32, "instruction": INSTRUCTION,
                      "load_average_1m": os.getloadavg()[0], "results": out,
                      "note": "seconds are wall time on 2 cores shared with ~20 other runnable threads"})


def gold_in_prompt(prog, task) -> float:
    """Share of test questions whose own paragraph is among the k passages the rung puts in the prompt."""
    hit = 0
    for ex in task.test:
        hit += any(h.text.strip() == ex["context"].strip() or h.text.strip() in ex["context"]
                   for h in prog.retrieve(task.render(ex)))
    return round(hit / len(task.test), 3)


if __name__ == "__main__":
    main()

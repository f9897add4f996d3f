"""`ladder ask` on SQuAD questions: does the answer cite, does the cited passage hold the answer?

Corpus: the 1,628 SQuAD dev paragraphs (`squad/retrieval/corpus.jsonl`), hybrid
index, k passages per question. Questions: a seeded sample of `squad/qa`, each
with its gold answers. Per answer prompt (`ladder.answer.PROMPTS`) and model,
on the same questions, from the same generations:
- cites_model / cites: the model's answer cites at least one passage as [n];
  the same after `ladder.citations.check_citations` placed or moved citations by
  word overlap;
- supported_model / supported: the share of cited passages that contain a gold
  answer (normalized substring), before and after the check;
- matched: the share of answers whose citations the check changed;
- answer_in_passages: the share of questions where some passage holds a gold
  answer (what a perfect citer could reach);
- supported_if_first / supported_if_random: the same for always citing passage
  [1] / a random passage: the baselines the check has to beat;
- correct: the answer contains a gold answer; supported_when_correct: cited
  support on those answers (citing the passage that holds what was said);
- unknown: the share answered "I don't know";
- token_f1 against the gold answers, citations removed (the answers are
  sentences, so F1 is low for every prompt; compare prompts, not values).
Paired differences between prompts carry 95% bootstrap intervals.

    python bench/ask_squad.py [--n 40] [--models qwen2.5-coder-0.5b,smollm2-135m] [--k 3]
"""
from __future__ import annotations

import argparse
import json
import os
import random

from common import load_model_threads, need_data, write

os.environ.setdefault("HF_HUB_OFFLINE", "1")

METRICS = ("cites_model", "cites", "supported_model", "supported", "supported_if_first", "supported_if_random",
           "correct", "supported_when_correct", "supported_when_correct_if_first", "matched", "answer_in_passages",
           "unknown", "token_f1")


def score(ans, answers: list[str]) -> dict:
    """One answer's measures; `*_if_first` / `*_if_random` are what citing passage [1] / a random passage
    would give (the baselines a citation checker has to beat)."""
    from ladder.citations import parse_citations, strip_citations
    from ladder.metrics import normalize, token_f1

    n = len(ans.sources)
    golds = [normalize(a) for a in answers]
    holds = [any(g in normalize(f"{h.title} {h.text}") for g in golds) for h in ans.sources]

    def support(cited):
        return sum(holds[i - 1] for i in cited) / len(cited) if cited else None

    own = parse_citations(ans.model_text or ans.text, n)
    text = strip_citations(ans.text, n)
    correct = ans.known and any(g in normalize(text) for g in golds)
    return {"cites_model": float(bool(own)), "cites": float(bool(ans.cited)), "supported_model": support(own),
            "supported": support(ans.cited), "supported_if_first": support([1]) if n else None,
            "supported_if_random": sum(holds) / n if n else None, "correct": float(correct),
            "supported_when_correct": support(ans.cited) if correct else None,
            "supported_when_correct_if_first": support([1]) if correct and n else None,
            "matched": float(ans.matched > 0), "answer_in_passages": float(any(holds)),
            "unknown": float(not ans.known), "token_f1": token_f1(text, answers),
            "cited": ans.cited, "cited_by_model": own, "holds": holds}


def summary(rows: list[dict]) -> dict:
    from ladder.evaluation import bootstrap_ci

    out = {}
    for m in METRICS:
        vals = [r[m] for r in rows if r[m] is not None]
        if vals:
            lo, hi = bootstrap_ci(vals)
            out[m] = {"mean": round(sum(vals) / len(vals), 3), "ci95": [round(lo, 3), round(hi, 3)], "n": len(vals)}
    return out


def paired(a: list[dict], b: list[dict]) -> dict:
    """b minus a on the questions both define, per metric."""
    from ladder.evaluation import bootstrap_ci

    out = {}
    for m in ("cites_model", "token_f1", "unknown"):
        diff = [y[m] - x[m] for x, y in zip(a, b)]
        lo, hi = bootstrap_ci(diff)
        out[m] = {"mean": round(sum(diff) / len(diff), 3), "ci95_paired": [round(lo, 3), round(hi, 3)]}
    return out


def paired_support(rows: list[dict], when_correct: bool = False) -> dict:
    """Cited-passage support after the check minus citing [1], paired, on the answers that cite (and
    are correct, with `when_correct`). Reads only the per-question fields kept in the results."""
    from ladder.evaluation import bootstrap_ci

    diff = [sum(r["holds"][i - 1] for i in r["cited"]) / len(r["cited"]) - r["holds"][0]
            for r in rows if r["cited"] and (r["correct"] or not when_correct)]
    lo, hi = bootstrap_ci(diff)
    return {"mean": round(sum(diff) / len(diff), 3), "ci95_paired": [round(lo, 3), round(hi, 3)], "n": len(diff)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=40)
    ap.add_argument("--models", default="qwen2.5-coder-0.5b,smollm2-135m")
    ap.add_argument("--k", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--name", default="ask_squad")
    args = ap.parse_args()
    qa = need_data("squad", "qa", "train.jsonl")
    corpus = need_data("squad", "retrieval", "corpus.jsonl")

    from ladder.answer import PROMPTS, ask
    from ladder.retrieval.index import open_index

    rows = [json.loads(line) for line in open(qa, encoding="utf-8")]
    random.Random(1).shuffle(rows)
    rows = rows[: args.n]
    index = open_index(corpus, progress=True)
    results = []
    for spec in args.models.split(","):
        model = load_model_threads(spec, args.threads)
        per_prompt = {}
        for prompt in PROMPTS:
            scored, examples, secs = [], [], 0.0
            for i, r in enumerate(rows, 1):
                ans = ask(index, r["question"], model, k=args.k, prompt=prompt, max_tokens=80)
                scored.append(score(ans, r["answers"]))
                secs += ans.usage.seconds
                if len(examples) < 4:
                    examples.append({"q": r["question"], "answer": ans.text, "model_answer": ans.model_text or ans.text})
                print(f"\r{spec} {prompt}: {i}/{len(rows)}", end="", flush=True)
            print()
            per_prompt[prompt] = scored
            row = {"model": spec, "model_sha256": model.fingerprint, "prompt": prompt, **summary(scored),
                   "check_minus_first_passage": paired_support(scored),
                   "check_minus_first_passage_when_correct": paired_support(scored, when_correct=True),
                   "seconds_per_answer": round(secs / len(rows), 2), "examples": examples,
                   "per_question": [{k: r[k] for k in ("cited", "cited_by_model", "holds", "correct")} for r in scored]}
            print(json.dumps({k: v for k, v in row.items() if k not in ("examples", "per_question")}), flush=True)
            results.append(row)
            write(args.name, {"partial": True, "results": results})
        results.append({"model": spec, "example_minus_instruction": paired(per_prompt["instruction"], per_prompt["example"])})
        model.close()
    write(args.name, {"dataset": "squad/qa (SQuAD v1.1 dev), seeded sample (seed 1)",
                      "corpus": "squad/retrieval/corpus.jsonl", "method": "hybrid", "k": args.k,
                      "n_questions": len(rows), "max_new_tokens": 80, "results": results})


if __name__ == "__main__":
    main()

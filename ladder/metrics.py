"""Metrics: plain functions, each with a worked example.

A metric is either per-example, `f(prediction, reference) -> float` averaged
over examples (accuracy, exact_match, token_f1, chrf, rouge_l; sari, which
also takes `source=` the rendered input, as any function with a true
`needs_source` attribute does), or
corpus-level, `f(predictions, references) -> float` (macro_f1). The
evaluator bootstraps either kind. A task may also name any "module:function"
(per-example), or "judge" (an LLM with a rubric; see judge.py).
"""
from __future__ import annotations

import importlib
import re
import string
from collections import Counter
from typing import Any, Callable

from ladder.errors import TaskError
from ladder.registry import Registry


def normalize(text: Any) -> str:
    """Lowercase, drop punctuation and articles, squeeze spaces (SQuAD-style).

    >>> normalize("The  Eiffel Tower!")
    'eiffel tower'
    """
    t = str(text).lower()
    t = "".join(ch for ch in t if ch not in set(string.punctuation))
    t = re.sub(r"\b(a|an|the)\b", " ", t)
    return " ".join(t.split())


def _refs(reference: Any) -> list[str]:
    return [str(r) for r in reference] if isinstance(reference, list) else [str(reference)]


def accuracy(prediction: str, reference: Any) -> float:
    """Label match, case and surrounding space ignored.

    >>> accuracy(" Positive", "positive"), accuracy("negative", "positive")
    (1.0, 0.0)
    """
    return float(any(str(prediction).strip().lower() == r.strip().lower() for r in _refs(reference)))


def exact_match(prediction: str, reference: Any) -> float:
    """SQuAD exact match after normalisation; a list of references counts any.

    >>> exact_match("the Eiffel tower.", ["Eiffel Tower", "tower"])
    1.0
    """
    return float(any(normalize(prediction) == normalize(r) for r in _refs(reference)))


def contains(prediction: str, reference: Any) -> float:
    """1.0 when a reference appears in the prediction, ignoring case and surrounding space
    (promptfoo's `contains` assertion).

    >>> contains("The capital is Paris.", "paris"), contains("Lyon", ["Paris", "Marseille"])
    (1.0, 0.0)
    """
    pred = str(prediction).lower()
    return float(any(str(r).strip().lower() in pred for r in _refs(reference)))


def token_f1(prediction: str, reference: Any) -> float:
    """SQuAD token F1: overlap of normalised tokens; best over references.

    >>> round(token_f1("in Paris France", "Paris"), 3)  # P=1/3, R=1 -> F1=0.5
    0.5
    """
    best = 0.0
    p = normalize(prediction).split()
    for r in _refs(reference):
        g = normalize(r).split()
        common = sum((Counter(p) & Counter(g)).values())
        if not p or not g:
            best = max(best, float(p == g))
        elif common:
            prec, rec = common / len(p), common / len(g)
            best = max(best, 2 * prec * rec / (prec + rec))
    return best


def _ngrams(s: str, n: int) -> Counter:
    return Counter(s[i: i + n] for i in range(len(s) - n + 1))


def chrf(prediction: str, reference: Any, n: int = 6, beta: float = 2.0) -> float:
    """Character n-gram F-score (chrF, Popović 2015), n = 1..6, beta = 2, spaces removed; best over references.

    >>> chrf("abc", "abc")
    1.0
    >>> round(chrf("ab", "abc"), 3)  # P=1, R=(2/3+1/2)/2=7/12; F2 = 5PR/(4P+R) = 0.636
    0.636
    """
    best = 0.0
    hyp = "".join(str(prediction).split())
    for r in _refs(reference):
        ref = "".join(r.split())
        precs, recs = [], []
        for k in range(1, n + 1):
            h, g = _ngrams(hyp, k), _ngrams(ref, k)
            if not h or not g:
                continue
            m = sum((h & g).values())
            precs.append(m / sum(h.values()))
            recs.append(m / sum(g.values()))
        if not precs:
            continue
        p, rc = sum(precs) / len(precs), sum(recs) / len(recs)
        if p + rc:
            best = max(best, (1 + beta**2) * p * rc / (beta**2 * p + rc))
    return best


def rouge_l(prediction: str, reference: Any) -> float:
    """ROUGE-L F1 over normalised tokens (longest common subsequence); best over references.

    >>> round(rouge_l("the cat sat on mat", "the cat was on the mat"), 3)  # LCS "cat on mat"=3; P=3/4 R=3/4
    0.75
    """
    best = 0.0
    p = normalize(prediction).split()
    for r in _refs(reference):
        g = normalize(r).split()
        if not p or not g:
            continue
        dp = [0] * (len(g) + 1)
        for a in p:
            prev = 0
            for j, b in enumerate(g, 1):
                cur = dp[j]
                dp[j] = prev + 1 if a == b else max(dp[j], dp[j - 1])
                prev = cur
        lcs = dp[-1]
        if lcs:
            prec, rec = lcs / len(p), lcs / len(g)
            best = max(best, 2 * prec * rec / (prec + rec))
    return best


_TOKEN = re.compile(r"\w+|[^\w\s]")


def _gram_counts(tokens: list[str], n: int) -> Counter:
    return Counter(tuple(tokens[i: i + n]) for i in range(len(tokens) - n + 1))


def _f1(p: float, r: float) -> float:
    return 2 * p * r / (p + r) if p + r else 0.0


def sari(prediction: str, reference: Any, source: str) -> float:
    """SARI (Xu et al. 2016) for simplification, 0..1 (papers print x100): for n-grams n = 1..4 of
    lowercased word and punctuation tokens, the F1 of what the output keeps from the source, the
    precision of what it deletes, and the F1 of what it adds, each judged against all the
    references; their mean. Needs the source, so it is computed per sentence and averaged.

    >>> sari("the cat sat on the mat", "the cat sat on the mat", source="the cat sat on the mat today")
    0.6666666666666666

    (Keeping and deleting right score 2/3; copying the source only keeps, 1/3.)
    >>> sari("the cat sat on the mat", ["the cat sat on the mat"], source="the cat sat on the mat")
    0.3333333333333333
    """
    refs = _refs(reference)
    tok = lambda text: _TOKEN.findall(str(text).lower())  # noqa: E731
    src, out, ref_tokens = tok(source), tok(prediction), [tok(r) for r in refs]
    keep, delete, add = [], [], []
    for n in range(1, 5):
        s, c = _gram_counts(src, n), _gram_counts(out, n)
        r = sum((_gram_counts(t, n) for t in ref_tokens), Counter())
        s_rep = Counter({g: k * len(refs) for g, k in s.items()})  # the source and output count once per reference
        c_rep = Counter({g: k * len(refs) for g, k in c.items()})
        kept, kept_all = s_rep & c_rep, s_rep & r
        kept_good = kept & r
        keep.append(_f1(sum(kept_good[g] / kept[g] for g in kept_good) / len(kept) if kept else 0.0,
                        sum(kept_good[g] / kept_all[g] for g in kept_good) / len(kept_all) if kept_all else 0.0))
        deleted = s_rep - c_rep
        deleted_good = deleted - r
        delete.append(sum(deleted_good[g] / deleted[g] for g in deleted_good) / len(deleted) if deleted else 0.0)
        added, added_all = set(c) - set(s), set(r) - set(s)
        hits = len(added & set(r))
        add.append(_f1(hits / len(added) if added else 0.0, hits / len(added_all) if added_all else 0.0))
    return (sum(keep) + sum(delete) + sum(add)) / 12


sari.needs_source = True  # type: ignore[attr-defined]


def macro_f1_indexed(predictions: list[str], references: list[Any]) -> Callable[[Any], float]:
    """Macro-F1 of any resample of example indices (a numpy index array), vectorised for the bootstrap."""
    import numpy as np

    labels = sorted({str(r).strip().lower() for r in references})
    code = {lab: i for i, lab in enumerate(labels)}
    r = np.array([code[str(x).strip().lower()] for x in references], dtype=int)
    p = np.array([code.get(str(x).strip().lower(), -1) for x in predictions], dtype=int)
    n_labels = len(labels)

    def stat(ix: Any) -> float:
        rr, pp = r[ix], p[ix]
        tp = np.bincount(rr[pp == rr], minlength=n_labels)
        fp = np.bincount(pp[(pp != rr) & (pp >= 0)], minlength=n_labels)
        fn = np.bincount(rr[pp != rr], minlength=n_labels)
        present = np.bincount(rr, minlength=n_labels) > 0  # labels of the references in this resample
        f1 = np.where(tp > 0, 2 * tp / np.maximum(2 * tp + fp + fn, 1), 0.0)
        return float(f1[present].mean()) if present.any() else 0.0

    return stat


def macro_f1(predictions: list[str], references: list[Any]) -> float:
    """Unweighted mean of per-label F1 over the labels present in the references.

    >>> macro_f1(["a", "a", "b", "b"], ["a", "b", "b", "b"])  # F1(a)=2/3, F1(b)=0.8
    0.7333333333333334
    """
    import numpy as np

    return macro_f1_indexed(predictions, references)(np.arange(len(references))) if references else 0.0


macro_f1.indexed = macro_f1_indexed  # type: ignore[attr-defined]  # how to bootstrap it fast
macro_f1.corpus = True  # type: ignore[attr-defined]  # scored over the whole set, not averaged per example

# Metrics are plugins (entry-point group `ladder.metrics`); the built-ins above register there too.
METRICS: Registry[Callable[..., float]] = Registry("ladder.metrics", "metric")
SPECIAL = {"judge"}  # scored by ladder.judge with a model and a rubric


def metric_names() -> list[str]:
    return [*METRICS.names(), *SPECIAL]


def get_metric(name: str) -> Callable[..., float]:
    """A registered metric, or any importable "module:function"."""
    if name in METRICS or ":" not in name:
        if name not in METRICS:
            choices = ", ".join([*metric_names(), "a 'module:function'"])
            raise TaskError(f"unknown metric '{name}'; choose one of: {choices}")
        return METRICS.get(name)
    module, _, func = name.partition(":")
    try:
        fn = getattr(importlib.import_module(module), func)
    except (ImportError, AttributeError, ValueError) as e:
        raise TaskError(f"cannot import metric '{name}' ({e})") from None
    if not callable(fn):
        raise TaskError(f"metric '{name}' is not a function")
    return fn


def check_metric_name(name: str) -> None:
    if name not in SPECIAL:
        get_metric(name)


def is_corpus_metric(name: str) -> bool:
    """True for metrics scored over the whole set (f(predictions, references)), like macro_f1."""
    return name not in SPECIAL and bool(getattr(get_metric(name), "corpus", False))


def corpus_stat(name: str, predictions: list[str], references: list[Any]) -> Callable[[Any], float]:
    """A corpus-level metric over a resample of example indices, for the bootstrap: the metric's own
    vectorised `indexed` form when it has one (macro_f1), else the metric on the resampled lists."""
    f = get_metric(name)
    fast = getattr(f, "indexed", None)
    if fast is not None:
        return fast(predictions, references)
    return lambda ix: float(f([predictions[i] for i in ix], [references[i] for i in ix]))


def per_example_fn(name: str) -> Callable[[str, Any], float] | None:
    """The per-example function for a metric name (None for corpus-level or judge)."""
    if name in SPECIAL or is_corpus_metric(name):
        return None
    return get_metric(name)

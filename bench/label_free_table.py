"""The label-free search results of issue 16 in one table and one plot, read from the bench JSONs:
QLM and pointwise LLM rerankers (`rerank_qlm_*.json`), the adapted embedder and cross-encoder
(`adapt_*.json`) and the leave-one-dataset-out cross-encoder (`general_reranker_*.json`).

    python bench/label_free_table.py     # prints the Markdown table; writes label_free.json and label_free.svg

Every row is a paired gain over plain hybrid on the same test queries; files not there yet are skipped.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from common import RESULTS, write

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
SETS = {"scifact": "SciFact", "squad": "SQuAD", "msmarco-5k": "MS MARCO-5k"}


def rows_from_rerank(doc: dict) -> list[dict]:
    out = []
    for r in doc.get("rerankers", []):
        kind, model = r["reranker"].split(":", 1)
        model += ", bf16" if kind == "qlm" and doc.get("qlm_dtype") == "bfloat16" else ""
        model += f", depth {doc['depth']}" if doc.get("depth", 10) != 10 else ""
        out.append({"set": doc["dataset"], "method": f"{kind} {model}, blended ({r['blend']['kind']} {r['blend']['weight']})",
                    "n": doc["n_queries"], "hybrid": doc["first_stage"]["ndcg@10"], "score": r["blended_ndcg@10"],
                    "gain": r["blended_gain_over_hybrid"], "speed": f"{r['pairs_per_second']} pairs/s",
                    "file": doc["bench"], "pipeline": f"{kind} {model}" + ("" if r["blend"]["chosen_on"].startswith("fixed")
                                                                       else ", blend chosen on train queries"),
                    "gains": [a - b for b, a in r.get("per_query", {}).values()]})
    return out


def averages(rows: list[dict], samples: int = 2000, seed: int = 0) -> list[dict]:
    """The issue's goal metric: a pipeline's gain averaged over the three sets (each set's largest run),
    for pipelines measured on all three with per-query gains. Its 95% interval is a stratified
    bootstrap: queries resampled within each set, the three set means averaged."""
    import numpy as np

    best: dict[str, dict[str, dict]] = {}
    for r in (r for r in rows if r.get("gains")):
        held = best.get(r["pipeline"], {}).get(r["set"])
        if held and held["n"] == r["n"]:
            raise SystemExit(f"two runs of '{r['pipeline']}' on {r['set']} with {r['n']} queries: "
                             f"{held['file']} and {r['file']}; keep one")
        if not held or r["n"] > held["n"]:
            best.setdefault(r["pipeline"], {})[r["set"]] = r
    out, rng = [], np.random.default_rng(seed)
    for name, by_set in best.items():
        if set(by_set) != set(SETS):
            continue
        runs = [np.array(by_set[s]["gains"]) for s in SETS]
        boot = np.mean([g[rng.integers(0, len(g), size=(samples, len(g)))].mean(axis=1) for g in runs], axis=0)
        mean = float(np.mean([g.mean() for g in runs]))
        out.append({"set": "average of the three", "method": name, "n": "/".join(str(len(g)) for g in runs),
                    "gain": {"mean": round(mean, 4), "ci95": [round(float(np.percentile(boot, 2.5)), 4),
                                                             round(float(np.percentile(boot, 97.5)), 4)]},
                    "of": {s: by_set[s]["file"] for s in SETS}})
    return out


def rows_from_adapt(doc: dict) -> list[dict]:
    res, out = doc["results"], []
    teacher = doc["adapted"]["models"].get("reranker", {}).get("teacher", {}).get("reranker")
    model = f"cross-encoder distilled from {teacher}" if teacher else "cross-encoder"
    names = {"adapted_hybrid": "adapted embedder (hybrid)", "adapted_hybrid+ce": f"adapted embedder + {model}",
             "hybrid+ce": f"hybrid + adapted {model}"}
    for key, name in names.items():
        if key in res:
            ce = doc.get("cross_encoder") or {}
            out.append({"set": doc["dataset"], "method": name, "n": doc["n_queries"], "hybrid": res["hybrid"]["ndcg@10"],
                        "score": res[key]["ndcg@10"], "gain": res[key]["gain_over_hybrid"],
                        "speed": f"{ce.get('pairs_per_second')} pairs/s" if key.endswith("ce") else "",
                        "file": doc["bench"]})
    return out


def rows_from_general(doc: dict) -> list[dict]:
    t = doc["test"]
    return [{"set": doc["held_out"], "method": "general cross-encoder (leave-one-dataset-out)", "n": t["n_queries"],
             "hybrid": t["hybrid_ndcg@10"], "score": t["general_ce_ndcg@10"], "gain": t["gain_over_hybrid"],
             "speed": f"{t['pairs_per_second']} pairs/s", "file": doc["bench"]}]


def collect() -> list[dict]:
    rows = []
    for pattern, fn in (("rerank_qlm_*.json", rows_from_rerank), ("adapt_*.json", rows_from_adapt),
                        ("general_reranker_*.json", rows_from_general)):
        for path in sorted(RESULTS.glob(pattern)):
            doc = json.loads(path.read_text())
            if "speed" in path.stem or "questions" in path.stem:
                continue
            rows += fn(doc)
    return rows


def ci(v: dict) -> str:
    return f"{v['mean']:.3f} [{v['ci95'][0]:.3f}, {v['ci95'][1]:.3f}]"


def main() -> None:
    from ladder.report.svg import STYLE, intervals

    rows = collect()
    avg = averages(rows)
    for r in rows:
        r.pop("gains", None)
    print("| set | method | n | hybrid nDCG@10 | method nDCG@10 | paired gain | speed | file |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        g = r["gain"]
        print(f"| {SETS.get(r['set'], r['set'])} | {r['method']} | {r['n']} | {ci(r['hybrid'])} | {ci(r['score'])} | "
              f"{g['mean']:+.3f} [{g['ci95'][0]:+.3f}, {g['ci95'][1]:+.3f}] | {r['speed']} | `{r['file']}.json` |")
    print("\n| pipeline | average paired gain over the three sets (stratified bootstrap) | runs |\n|---|---|---|")
    for a in avg:
        g = a["gain"]
        print(f"| {a['method']} | {g['mean']:+.3f} [{g['ci95'][0]:+.3f}, {g['ci95'][1]:+.3f}] | "
              + ", ".join(f"`{f}.json`" for f in a["of"].values()) + " |")
    plot = intervals([(f"{SETS.get(r['set'], r['set'])}: {r['method']} (n={r['n']})", r["gain"]["mean"],
                       *r["gain"]["ci95"]) for r in rows + avg],
                     x_label="paired nDCG@10 gain over hybrid (95% CI)", title="Label-free search: gain over hybrid")
    head, _, rest = plot.partition(">")  # a file on its own: the plot's CSS goes inside it
    (RESULTS / "label_free.svg").write_text(f"{head}><style>{STYLE}</style>{rest}\n", encoding="utf-8")
    write("label_free", {"rows": rows, "averages": avg, "plot": "label_free.svg"})


if __name__ == "__main__":
    main()

"""The Markdown report: short enough for a pull-request comment."""
from __future__ import annotations

from typing import Any

from ladder.report import best_label, disagreements
from ladder.verdict import label, money


def _cell(x: Any, n: int = 80) -> str:
    s = " ".join(str(x if x is not None else "").split()).replace("|", "\\|")
    return s if len(s) <= n else s[: n - 1] + "…"


def render_markdown(d: dict[str, Any]) -> str:
    task, rows, v = d.get("task", {}), d.get("rows", []), d.get("verdict") or {}
    out = [f"## ladder climb: {task.get('name', 'task')}", ""]
    facts = [f"metric **{task.get('metric')}**", f"n = {task.get('n_test')} (same examples for every row)"]
    if task.get("target") is not None:
        facts.append(f"target {task['target']} (by the {'interval lower bound' if v.get('meets_by') == 'lower' else 'mean'})")
    if v.get("volume_per_month"):
        facts.append(f"{v['volume_per_month']:,.0f} requests/month, one-time costs over {v.get('horizon_months', 12)} months")
    out += [" · ".join(facts), ""]
    sentences = v.get("sentences") or [d.get("recommendation", "Nothing was evaluated.")]
    lead = v.get("headline")
    out += ([f"**{lead}**", ""] + [f"- {s}" for s in sentences] if lead else
            [f"**{sentences[0]}**", ""] + [f"- {s}" for s in sentences[1:]]) + [""]
    if rows:
        costs = v.get("costs") or [{}] * len(rows)
        meets = v.get("meets") or [None] * len(rows)
        front = set(v.get("pareto") or [])
        out += ["| | rung | model | score [95% CI] | target | $/1k amortised | p50 / p95 ms |",
                "|---|---|---|---|---|---|---|"]
        for i, r in enumerate(rows):
            mark = ("⭐" if i == d.get("best_index") else "") + ("◆" if i in front else "")
            m = {True: "✅", False: "❌", None: "–"}[meets[i]]
            out.append(f"| {mark} | {r['rung']} | {r['model']} | {r['score']:.3f} [{r['ci_low']:.3f}, {r['ci_high']:.3f}] | "
                       f"{m} | {money(costs[i].get('amortised_per_1k', r.get('amortised_per_1k')))} | "
                       f"{r.get('latency_p50', 0) * 1000:.0f} / {r.get('latency_p95', 0) * 1000:.0f} |")
        out += ["", f"⭐ {best_label(d)} · ◆ on the quality-vs-cost Pareto front", ""]
    comps = v.get("comparisons") or []
    if comps:
        out += ["**Paired comparisons** (same examples)", "", "| b minus a | diff [95% CI] | p | test | wins/losses |",
                "|---|---|---|---|---|"]
        for c in comps:
            p = "<0.001" if c["p_value"] < 0.001 else f"{c['p_value']:.3f}"
            out.append(f"| {c['b']} − {c['a']} | {c['diff']:+.3f} [{c['ci_low']:+.3f}, {c['ci_high']:+.3f}] | {p} | "
                       f"{'McNemar' if c['method'] == 'mcnemar' else 'paired bootstrap'} | {c['b_wins']}/{c['a_wins']} |")
        out.append("")
    shown, exs = disagreements(d, limit=5)
    if exs:
        out += ["<details><summary>Examples where the rows disagree</summary>", "",
                "| input | expected | " + " | ".join(label(rows[i]) for i in shown) + " |",
                "|---" * (2 + len(shown)) + "|"]
        for e in exs:
            cells = " | ".join(("✓ " if (c.get("score") or 0) >= 1 else "✗ ") + _cell(c.get("output"), 40) for c in e["cells"])
            out.append(f"| {_cell(e['input'])} | {_cell(e['expected'], 40)} | {cells} |")
        out += ["", "</details>", ""]
    missing = [(s, "skipped") for s in d.get("skipped", [])] + [(s, "not run") for s in d.get("not_run", [])]
    if missing:
        out += ["**Not run**", ""] + [f"- {s['rung']} / {s['model']} ({k}): {s['why']}" for s, k in missing] + [""]
    if d.get("pretrain_at_scale"):
        from ladder.advisor import scale_note

        out += [f"_{scale_note(d['pretrain_at_scale'])}_", ""]
    if d.get("run_dir") or d.get("path"):
        out.append(f"Run directory: `{d.get('run_dir') or d.get('path')}`")
    return "\n".join(out).rstrip() + "\n"

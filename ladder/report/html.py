"""The HTML report: decision first, then the evidence. One file, inline CSS and SVG, no scripts."""
from __future__ import annotations

from html import escape
from typing import Any

from ladder.report import best_label, disagreements
from ladder.report.svg import STYLE as SVG_STYLE
from ladder.report import plots
from ladder.verdict import label, money

CSS = """
:root { --ink: #111827; --mute: #6b7280; --line: #e5e7eb; --soft: #f9fafb; --ok: #047857; --bad: #b91c1c;
        --accent: #2563eb; }
* { box-sizing: border-box; }
body { margin: 0; color: var(--ink); background: #f3f4f6; font: 15px/1.55 system-ui, -apple-system, "Segoe UI", sans-serif; }
main { max-width: 1200px; margin: 0 auto; padding: 28px 24px 64px; }
header h1 { font-size: 26px; margin: 0 0 4px; letter-spacing: -0.01em; }
header p { margin: 0; color: var(--mute); }
section { background: #fff; border: 1px solid var(--line); border-radius: 12px; padding: 20px 24px; margin-top: 20px; }
h2 { font-size: 17px; margin: 0 0 12px; }
.decision { border-left: 6px solid var(--accent); }
.decision .lead { font-size: 18px; font-weight: 600; margin: 0 0 10px; }
.decision ul { margin: 0; padding-left: 20px; }
.decision li { margin: 4px 0; }
.chips { display: flex; gap: 10px; flex-wrap: wrap; margin: 0 0 14px; }
.chip { background: var(--soft); border: 1px solid var(--line); border-radius: 999px; padding: 3px 12px; font-size: 13px; color: #374151; }
table { border-collapse: collapse; width: 100%; font-size: 13px; }
td.nowrap { white-space: nowrap; }
th, td { text-align: left; padding: 7px 10px; border-bottom: 1px solid var(--line); vertical-align: top; }
th { font-weight: 600; color: #374151; background: var(--soft); position: sticky; top: 0; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tr.best td { background: #eff6ff; }
tr.best td:first-child { box-shadow: inset 4px 0 0 var(--accent); }
.yes { color: var(--ok); font-weight: 600; } .no { color: var(--bad); font-weight: 600; }
.tag { display: inline-block; font-size: 11px; padding: 1px 7px; border-radius: 6px; margin-left: 6px;
       background: #dbeafe; color: #1e40af; font-weight: 600; }
.tag.front { background: #d1fae5; color: #065f46; }
.scroll { overflow-x: auto; }
.ex td { max-width: 320px; }
.ex .input { color: #374151; }
.ex .right { color: var(--ok); } .ex .wrong { color: var(--bad); }
.mute { color: var(--mute); font-size: 13px; }
.grid2 { display: grid; grid-template-columns: 1fr; gap: 20px; }
footer { color: var(--mute); font-size: 12px; margin-top: 24px; word-break: break-all; }
code { background: var(--soft); padding: 1px 5px; border-radius: 4px; font-size: 12.5px; }
"""


def render_html(d: dict[str, Any]) -> str:
    task, rows, v = d.get("task", {}), d.get("rows", []), d.get("verdict") or {}
    title = f"ladder climb: {task.get('name', 'task')}"
    body = [_header(d), _decision(d), _leaderboard(d), _comparisons(d), _cost_plot(d), _latency(d), _losses(d),
            _examples(d), _not_run(d), _pretrain(d), _footer(d)]
    return (f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{escape(title)}</title><style>{CSS}{SVG_STYLE}</style></head>"
            f'<body><main>{"".join(b for b in body if b)}</main></body></html>\n') if rows or v is not None else (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title><style>{CSS}</style>'
        f'</head><body><main>{_header(d)}<section class="decision"><p class="lead">Nothing was evaluated.</p>'
        f'{_not_run(d)}</section></main></body></html>\n')


def _header(d: dict[str, Any]) -> str:
    t = d.get("task", {})
    bits = [f"metric <b>{escape(str(t.get('metric')))}</b>", f"n = {t.get('n_test')} test examples (the same for every row)"]
    if t.get("target") is not None:
        bits.append(f"target {t['target']}")
    when = d.get("created") or ""
    return (f"<header><h1>{escape(str(t.get('name', 'task')))}: which approach to ship</h1>"
            f"<p>{' · '.join(bits)}{' · ' + escape(when) if when else ''}</p></header>")


def _decision(d: dict[str, Any]) -> str:
    v = d.get("verdict") or {}
    sentences = v.get("sentences") or [d.get("recommendation", "")]
    chips = []
    if v.get("volume_per_month"):
        chips.append(f"volume {v['volume_per_month']:,.0f} requests/month")
    chips.append(f"one-time costs amortised over {v.get('horizon_months', 12)} months")
    if v.get("target") is not None:
        chips.append("target judged by the " + ("95% interval's lower bound" if v.get("meets_by") == "lower" else "mean"))
    chips.append("differences paired on the same examples")
    lead = v.get("headline") or sentences[0]
    rest = "".join(f"<li>{escape(s)}</li>" for s in (sentences if v.get("headline") else sentences[1:]))
    return (f'<section class="decision"><h2>Decision</h2><p class="lead">{escape(lead)}</p><div class="chips">'
            + "".join(f'<span class="chip">{escape(c)}</span>' for c in chips)
            + "</div>" + (f"<ul>{rest}</ul>" if rest else "") + "</section>")


def _leaderboard(d: dict[str, Any]) -> str:
    rows, v = d.get("rows", []), d.get("verdict") or {}
    costs, meets, front = v.get("costs") or [{}] * len(rows), v.get("meets") or [None] * len(rows), set(v.get("pareto") or [])
    head = ("<tr><th>rung</th><th>model</th><th class='num'>score [95% CI]</th><th>target</th>"
            "<th class='num'>$ / 1k req</th><th class='num'>$ / month</th><th class='num'>one-time</th>"
            "<th class='num'>latency p50 / p95</th><th class='num'>errors</th></tr>")
    out = []
    for i, r in enumerate(rows):
        c = costs[i] if i < len(costs) else {}
        tags = (f'<span class="tag">{best_label(d)}</span>' if i == d.get("best_index") else "") + (
            '<span class="tag front">Pareto</span>' if i in front else "")
        m = {True: '<span class="yes">meets</span>', False: '<span class="no">below</span>', None: "–"}[meets[i] if i < len(meets) else None]
        out.append(
            f"<tr class='{'best' if i == d.get('best_index') else ''}'><td class='nowrap'>{escape(r['rung'])}{tags}</td>"
            f"<td class='nowrap'>{escape(r['model'])}</td><td class='num'><b>{r['score']:.3f}</b> [{r['ci_low']:.3f}, {r['ci_high']:.3f}]</td>"
            f"<td>{m}</td><td class='num'>{money(c.get('amortised_per_1k', r.get('amortised_per_1k')))}</td>"
            f"<td class='num'>{money(c.get('monthly')) if c.get('monthly') is not None else '–'}</td>"
            f"<td class='num'>{money(r.get('one_time_cost')) if r.get('one_time_cost') else '–'}</td>"
            f"<td class='num'>{r.get('latency_p50', 0) * 1000:.0f} / {r.get('latency_p95', 0) * 1000:.0f} ms</td>"
            f"<td class='num'>{r.get('errors', 0)}</td></tr>")
    return (f"<section><h2>Leaderboard</h2><div class='scroll'><table>{head}{''.join(out)}</table></div>"
            f"<p class='mute'>$ / 1k req: per 1,000 requests, amortised. Costs: local models at the CPU-hour price of the CPU time they used, API models per token; "
            f"one-time (training) costs spread over {v.get('horizon_months', 12)} months of the stated volume.</p></section>")


def _comparisons(d: dict[str, Any]) -> str:
    comps = (d.get("verdict") or {}).get("comparisons") or []
    if not comps:
        return ""
    out = []
    for c in comps:
        sig = '<span class="yes">yes</span>' if c["significant"] else '<span class="mute">no</span>'
        more = f"{c['more_examples_needed']:,} more" if c.get("more_examples_needed") else "–"
        p = "<0.001" if c["p_value"] < 0.001 else f"{c['p_value']:.3f}"
        out.append(f"<tr><td>{escape(c['b'])} <span class='mute'>minus</span> {escape(c['a'])}<br>"
                   f"<span class='mute'>{escape(c['why'])}</span></td><td class='num'><b>{c['diff']:+.3f}</b> "
                   f"[{c['ci_low']:+.3f}, {c['ci_high']:+.3f}]</td><td class='num'>{p}</td><td>{sig}</td>"
                   f"<td class='num'>{c['b_wins']} / {c['a_wins']}</td><td>{'McNemar' if c['method'] == 'mcnemar' else 'paired bootstrap'}</td>"
                   f"<td class='num'>{more}</td></tr>")
    return ("<section><h2>Paired comparisons</h2>" + plots.paired(d) +
            "<div class='scroll'><table><tr><th>pair</th><th class='num'>difference [95% CI]</th>"
            "<th class='num'>p</th><th>significant</th><th class='num'>wins / losses</th><th>test</th>"
            "<th class='num'>examples to decide</th></tr>" + "".join(out) + "</table></div></section>")


def _cost_plot(d: dict[str, Any]) -> str:
    svg = plots.quality(d)
    return ("<section><h2>Quality vs cost</h2>" + svg + "<p class='mute'>Bars: 95% intervals. Dashed green: the Pareto "
            "front (no other row is both cheaper and better). Ringed: the recommendation.</p></section>") if svg else ""


def _latency(d: dict[str, Any]) -> str:
    svg = plots.latency(d)
    return "<section><h2>Latency per request</h2>" + svg + "</section>" if svg else ""


def _losses(d: dict[str, Any]) -> str:
    svg = plots.losses(d)
    return "<section><h2>Training loss</h2>" + svg + "</section>" if svg else ""


def _examples(d: dict[str, Any]) -> str:
    shown, exs = disagreements(d)
    if not exs:
        return ""
    rows = d["rows"]
    head = "<tr><th>#</th><th>input</th><th>expected</th>" + "".join(
        f"<th>{escape(label(rows[i]))}</th>" for i in shown) + "</tr>"
    body = []
    for e in exs:
        cells = "".join(
            f"<td class='{'right' if (c.get('score') or 0) >= 1 else 'wrong' if c.get('score') is not None else ''}'>"
            f"{'✓ ' if (c.get('score') or 0) >= 1 else '✗ ' if c.get('score') is not None and c.get('score') < 1 else ''}"
            f"{escape(_clip(c.get('output'), 160))}</td>" for c in e["cells"])
        body.append(f"<tr><td class='num'>{e['idx']}</td><td class='input'>{escape(_clip(e['input'], 260))}</td>"
                    f"<td>{escape(_clip(e['expected'], 120))}</td>{cells}</tr>")
    return (f"<section><h2>Where the rows disagree</h2><p class='mute'>{len(exs)} examples (of the test sample) on which "
            "the recommended row and the others score differently, largest differences first.</p>"
            f"<div class='scroll'><table class='ex'>{head}{''.join(body)}</table></div></section>")


def _clip(x: Any, n: int) -> str:
    s = str(x if x is not None else "")
    return s if len(s) <= n else s[: n - 1] + "…"


def _not_run(d: dict[str, Any]) -> str:
    items = [(s, "skipped") for s in d.get("skipped", [])] + [(s, "not run") for s in d.get("not_run", [])]
    if not items:
        return ""
    lis = "".join(f"<li><b>{escape(s['rung'])} / {escape(s['model'])}</b> ({kind}): {escape(s['why'])}</li>" for s, kind in items)
    return f"<section><h2>What was not run</h2><ul>{lis}</ul></section>"


def _pretrain(d: dict[str, Any]) -> str:
    scale = d.get("pretrain_at_scale")
    if not scale:
        return ""
    from ladder.advisor import scale_note

    return f"<section><h2>The top rung: pretraining</h2><p>{escape(scale_note(scale))}</p></section>"


def _footer(d: dict[str, Any]) -> str:
    models = d.get("models") or {r["model"]: r.get("model_hash") for r in d.get("rows", [])}
    shas = "<br>".join(f"{escape(m)}: <code>{escape(str(h))}</code>" for m, h in models.items())
    where = f"run directory <code>{escape(d['run_dir'] if d.get('run_dir') else d.get('path', ''))}</code><br>" if (
        d.get("run_dir") or d.get("path")) else ""
    fp = (d.get("task") or {}).get("fingerprint", "")
    return f"<footer>{where}task fingerprint <code>{escape(str(fp))}</code><br>model SHA-256: {shas}</footer>"

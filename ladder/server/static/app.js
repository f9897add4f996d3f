// The ladder dashboard: plain DOM, no framework, no CDN. Text goes in with textContent;
// only the server's own SVG plots are inserted as markup.
"use strict";
const $ = (sel) => document.querySelector(sel);
const keyInput = $("#key");
keyInput.value = localStorage.getItem("ladder-key") || "";
keyInput.addEventListener("change", () => { localStorage.setItem("ladder-key", keyInput.value); loadRuns(); });

async function api(path, body) {
  const headers = { "Content-Type": "application/json" };
  if (keyInput.value) headers.Authorization = "Bearer " + keyInput.value;
  const r = await fetch(path, body === undefined ? { headers } : { method: "POST", headers, body: JSON.stringify(body) });
  const data = await r.json().catch(() => ({ error: { message: r.statusText } }));
  if (!r.ok) throw new Error((data.error && data.error.message) || r.statusText);
  return data;
}

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = String(text);
  if (cls) e.className = cls;
  return e;
}

function row(cells) { const tr = el("tr"); cells.forEach((c) => tr.append(c instanceof Node ? c : el("td", c))); return tr; }
const fmt = (x, d = 3) => (x === null || x === undefined ? "n/a" : Number(x).toFixed(d));

// -- search and ask ---------------------------------------------------------------------------
async function search(ev) {
  ev.preventDefault();
  const q = $("#query").value.trim();
  if (!q) return;
  $("#search-status").textContent = "searching...";
  $("#answer").hidden = true;
  try {
    const res = await api("/v1/search", { query: q, k: 5, method: $("#method").value });
    showHits(res.data);
    $("#search-status").textContent = `${res.data.length} passages for “${res.query}” (${res.method})`;
  } catch (e) { $("#search-status").textContent = "search failed: " + e.message; }
}

function showHits(hits) {
  const ol = $("#results");
  ol.replaceChildren();
  for (const h of hits) {
    const li = el("li");
    li.append(el("span", h.title || h.doc_id, "title"), el("span", `score ${fmt(h.score)}`, "score"));
    li.append(el("div", h.text.length > 400 ? h.text.slice(0, 400) + " ..." : h.text, "text"));
    ol.append(li);
  }
}

async function ask() {
  const q = $("#query").value.trim();
  if (!q) return;
  $("#search-status").textContent = "asking (the model reads the passages)...";
  try {
    const res = await api("/v1/ask", { question: q, k: 5, method: $("#method").value });
    const box = $("#answer");
    box.replaceChildren(el("div", res.answer, "text"));
    const cited = res.cited.map((n) => `[${n}] ${res.sources[n - 1].title || res.sources[n - 1].doc_id}`);
    box.append(el("div", cited.length ? "Sources: " + cited.join(" · ") : "No passage cited.", "sources"));
    box.hidden = false;
    showHits(res.sources);
    $("#search-status").textContent = `answered in ${fmt(res.usage.seconds, 1)} s`;
  } catch (e) { $("#search-status").textContent = "ask failed: " + e.message; }
}

// -- runs -------------------------------------------------------------------------------------
async function loadRuns() {
  try {
    const res = await api("/api/runs");
    $("#served").textContent = [res.program && `program: ${res.program}`, res.index && "index: yes"].filter(Boolean).join(" · ");
    $("#search-panel").hidden = !res.index;
    const body = $("#runs tbody");
    body.replaceChildren();
    for (const r of res.runs) {
      const tr = row([r.id, r.task, r.rows, r.best || "none", r.created]);
      tr.addEventListener("click", () => openRun(r.id));
      body.append(tr);
    }
    $("#runs-status").textContent = res.runs.length ? `${res.runs.length} runs in ${res.runs_dir}` :
      `no runs in ${res.runs_dir || "(no --runs folder)"}; 'ladder climb' writes them`;
  } catch (e) { $("#runs-status").textContent = "could not list runs: " + e.message; }
}

let current = null;
async function openRun(id) {
  const run = await api("/api/runs/" + encodeURIComponent(id));
  current = run;
  $("#run").hidden = false;
  $("#run-title").textContent = `${run.task && run.task.name ? run.task.name : ""} — ${run.id}`;
  $("#recommendation").textContent = run.recommendation || "";
  const body = $("#leaderboard tbody");
  body.replaceChildren();
  run.rows.forEach((r, i) => {
    const meets = r.meets_target === true ? el("td", "yes", "yes") : r.meets_target === false ? el("td", "no", "no") : el("td", "-");
    const tr = row([i, r.rung, r.model, `${fmt(r.score)} [${fmt(r.ci_low)}, ${fmt(r.ci_high)}]`, r.n,
      `${Math.round(r.latency_p50 * 1000)} / ${Math.round(r.latency_p95 * 1000)} ms`,
      r.amortised_per_1k === null ? "n/a" : "$" + fmt(r.amortised_per_1k, 4), meets]);
    if (i === run.best_index) tr.className = "best";
    body.append(tr);
  });
  if (!document.getElementById("plot-style")) {
    const st = el("style", run.plots.style);
    st.id = "plot-style";
    document.head.append(st);
  }
  $("#plot-quality").innerHTML = run.plots.quality;
  $("#plot-latency").innerHTML = run.plots.latency;
  $("#plot-loss").innerHTML = run.plots.loss;
  $("#plot-paired").innerHTML = run.plots.paired;
  for (const [sel, pick] of [["#diff-a", 0], ["#diff-b", Math.min(1, run.rows.length - 1)]]) {
    const s = $(sel);
    s.replaceChildren(...run.rows.map((r, i) => { const o = el("option", `${i}: ${r.rung} / ${r.model}`); o.value = i; return o; }));
    s.value = pick;
  }
  $("#diff tbody").replaceChildren();
  $("#diff-status").textContent = "";
  $("#run").scrollIntoView({ behavior: "smooth" });
}

async function compare(ev) {
  ev.preventDefault();
  if (!current) return;
  const a = $("#diff-a").value, b = $("#diff-b").value;
  const res = await api(`/api/runs/${encodeURIComponent(current.id)}/diff?a=${a}&b=${b}&all=${$("#diff-all").checked}`);
  $("#diff-a-h").textContent = "A: " + res.a;
  $("#diff-b-h").textContent = "B: " + res.b;
  $("#diff-status").textContent = `${res.disagree} of ${res.compared} examples differ`;
  const body = $("#diff tbody");
  body.replaceChildren();
  for (const d of res.examples) {
    const cell = (out, score) => el("td", out, score ? "right" : "wrong");
    body.append(row([d.idx, el("td", d.input, "input"), el("td", Array.isArray(d.expected) ? d.expected.join(" | ") : d.expected),
      cell(d.a, d.a_score), cell(d.b, d.b_score)]));
  }
}

$("#search-form").addEventListener("submit", search);
$("#ask-btn").addEventListener("click", ask);
$("#diff-form").addEventListener("submit", compare);
loadRuns();

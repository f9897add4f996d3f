"""Measured verdicts: `ladder climb ... --report` on the bundled demo task and on SST-2, with the
paired verdict, the dry-run estimate next to what the climb then measured, and screenshots of
the HTML report rendered in Chromium.

Usage (each case is one heavy job; run it under the shared lock):
    python bench/verdict.py demo     # ladder demo; zero-shot,few-shot x smollm2-135m,qwen2.5-coder-0.5b; --limit 60
    python bench/verdict.py sst2     # ../shared/data/tasks/sst2 (test split); + finetune (4 min); --limit 200
    python bench/verdict.py shots    # screenshots only, from the reports the cases wrote

Writes bench/results/verdict_<case>.json and bench/results/screenshots/report-<case>*.png.
The run directories and reports go to /tmp/ladder-verdict/<case>/ (not the repository).
"""
from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

from common import RESULTS, need_data, write

WORK = Path(tempfile.gettempdir()) / "ladder-verdict"
MODELS = "smollm2-135m,qwen2.5-coder-0.5b"
LADDER = [sys.executable, "-m", "ladder"]
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


def sst2_task(folder: Path) -> Path:
    """SST-2's task file; its train split repeats a few test sentences, which the fine-tuning rung
    rightly refuses, so the train file used here (in the temp folder) leaves them out."""
    data = need_data("tasks", "sst2")
    test_texts = {json.loads(line)["text"] for line in (data / "test.jsonl").open(encoding="utf-8")}
    train = [line for line in (data / "train.jsonl").open(encoding="utf-8") if json.loads(line)["text"] not in test_texts]
    (folder / "train.jsonl").write_text("".join(train), encoding="utf-8")
    path = folder / "sst2.toml"
    path.write_text('name = "sst2"\ninstruction = "Classify the sentiment of the movie review sentence."\n'
                    'input = "{text}"\noutput = "label"\nlabels = "auto"\nmetric = "accuracy"\ntarget = 0.85\n'
                    f'train = "{folder / "train.jsonl"}"\ntest = "{data / "test.jsonl"}"\n')
    return path


CASES = {
    "demo": {"rungs": "zero-shot,few-shot", "limit": 60, "extra": []},
    "sst2": {"rungs": "zero-shot,few-shot,finetune", "limit": 200, "extra": ["--train-minutes", "4"]},
}


def task_for(case: str, folder: Path) -> Path:
    if case == "demo":
        out = folder / "demo"
        if not (out / "task.toml").exists():
            subprocess.run([*LADDER, "demo", "--out", str(out)], check=True, stdout=subprocess.DEVNULL)
        return out / "task.toml"
    return sst2_task(folder)


def run_case(case: str) -> None:
    folder = WORK / case
    folder.mkdir(parents=True, exist_ok=True)
    c = CASES[case]
    task = task_for(case, folder)
    common = [str(task), "--models", MODELS, "--rungs", c["rungs"], "--limit", str(c["limit"]),
              "--volume", "100000/month", *c["extra"]]
    dry = json.loads(subprocess.run([*LADDER, "climb", *common, "--dry-run", "--json"], check=True,
                                    stdout=subprocess.PIPE, text=True).stdout)
    report = folder / "report.html"
    cmd = [*LADDER, "climb", *common, "--all", "--runs-dir", str(folder / "runs"), "--report", str(report), "--json"]
    result = json.loads(subprocess.run(cmd, check=True, stdout=subprocess.PIPE, text=True).stdout)
    subprocess.run([*LADDER, "report", result["run_dir"], "-o", str(folder / "report.md")], check=True,
                   stdout=subprocess.DEVNULL)
    measured = {f"{r['rung']} / {r['model']}": r["cpu_seconds"] for r in result["rows"]}
    estimate_vs_measured = [{"row": f"{p['rung']} / {p['model']}", "estimated_cpu_seconds": p["cpu_seconds"],
                             "estimated_calls": p["calls"], "measured_cpu_seconds": measured.get(f"{p['rung']} / {p['model']}")}
                            for p in dry["pairs"]]
    write(f"verdict_{case}", {
        "command": "ladder " + " ".join(cmd[3:]), "task": result["task"], "run_dir": result["run_dir"],
        "recommendation": result["recommendation"], "verdict": result["verdict"], "rows": result["rows"],
        "skipped": result["skipped"], "not_run": result["not_run"], "dry_run": dry,
        "estimate_vs_measured": estimate_vs_measured,
        "note": ("measured CPU-seconds include cached calls at the cost they were first computed with; "
                 "the dry run times 3 fresh calls per row on the model itself (training rungs: a zero-shot "
                 "prompt plus the training budget)")})
    screenshots(case)


def screenshots(case: str) -> list[Path]:
    """Full page and first screen of the case's report, rendered by Debian's chromium through Playwright."""
    from playwright.sync_api import sync_playwright

    report = WORK / case / "report.html"
    if not report.exists():
        print(f"skip screenshots: {report} not written yet (run the case first)")
        return []
    out_dir = RESULTS / "screenshots"
    out_dir.mkdir(parents=True, exist_ok=True)
    shots = [out_dir / f"report-{case}.png", out_dir / f"report-{case}-top.png"]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1200, "height": 1000})
        page.goto(report.resolve().as_uri())
        page.screenshot(path=str(shots[0]), full_page=True)
        page.screenshot(path=str(shots[1]))
        browser.close()
    print("\n".join(str(s) for s in shots))
    return shots


if __name__ == "__main__":
    which = sys.argv[1:] or ["demo"]
    for name in which:
        if name == "shots":
            for c in CASES:
                screenshots(c)
        elif name in CASES:
            run_case(name)
        else:
            sys.exit(f"unknown case '{name}'; choose from: {', '.join(CASES)}, shots")

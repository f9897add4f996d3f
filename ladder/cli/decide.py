"""`ladder compare | check | report`, and the climb's decision options (--volume, --dry-run, budgets,
--report, --runs-dir): thin over ladder.verdict, ladder.estimate, ladder.gate and ladder.report."""
from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from ladder.cli.common import at_least, console


def climb_decision_options(f: Callable) -> Callable:
    """The options `ladder climb` adds for the verdict, the dry run, budgets and the run directory."""
    f = click.option("--report", "report_path", default=None, metavar="FILE",
                     help="Write the report: .html (self-contained), .md (a PR comment) or .json.")(f)
    f = click.option("--runs-dir", default="runs", show_default=True,
                     help="Parent folder of the run directory (runs/<id>/); '' to write none.")(f)
    f = click.option("--budget-usd", type=float, default=None, callback=at_least(0),
                     help="Stop between rows once the rows so far cost this much (running cost of the test "
                          "sample + one-time cost); the rest are listed as not run.")(f)
    f = click.option("--budget-minutes", type=float, default=None, callback=at_least(0),
                     help="Stop between rows after this many minutes; the rest are listed as not run.")(f)
    f = click.option("--dry-run", is_flag=True,
                     help="Print the estimated calls, tokens, CPU-seconds and dollars per (rung, model) "
                          "from 3 timed calls each, then exit without climbing.")(f)
    f = click.option("--horizon-months", type=int, default=None, callback=at_least(1),
                     help="Months over which one-time (training) costs are amortised (default 12).")(f)
    f = click.option("--meets", type=click.Choice(["lower", "mean"]), default="lower", show_default=True,
                     help="Judge 'meets the target' by the 95% interval's lower bound or by the mean.")(f)
    f = click.option("--volume", default=None, metavar="N[/month|/day]",
                     help="Requests you expect, e.g. 100000/month or 3000/day (a plain number is per month); "
                          "default: the task's `requests`.")(f)
    return f


def print_estimate(est: dict[str, Any]) -> None:
    from rich.table import Table

    from ladder.verdict import money

    t = Table(title=f"Dry run: {est['n_test']} test examples per row, {est['timed_calls_per_pair']} timed calls each")
    for col in ("rung", "model", "calls", "cached", "tokens", "CPU-s", "s/call", "$", "basis"):
        t.add_column(col, justify="left" if col in ("rung", "model", "basis") else "right")
    for p in est["pairs"]:
        t.add_row(p["rung"], p["model"], f"{p['calls']:,}", f"{p['cached']:,}", f"{p['tokens']:,}",
                  f"{p['cpu_seconds']:,.0f}", f"{p['seconds_per_call']:.2f}", money(p["dollars"]), p["basis"])
    tot = est["total"]
    t.add_row("total", "", f"{tot['calls']:,}", "", f"{tot['tokens']:,}", f"{tot['cpu_seconds']:,.0f}", "",
              money(tot["dollars"]) + (" + unpriced" if tot["unpriced"] else ""), "")
    console().print(t)
    for s in est["skipped"]:
        console().print(f"[dim]skipped {s['rung']} ({s['model']}): {s['why']}[/dim]")


def after_climb(result: Any, report_path: str | None) -> None:
    """Write the report if asked; say where the run directory is."""
    if report_path:
        from ladder.report import report_data, write_report

        out = write_report(report_data(result), report_path)
        console(stderr=True).print(f"report: {out}")
    if result.run_dir:
        console(stderr=True).print(f"run directory: {result.run_dir} (serve the recommendation with "
                                   f"`ladder serve {result.run_dir}/best`)")


@click.command()
@click.argument("a")
@click.argument("b")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")
@click.option("--show", default=10, show_default=True, help="Print up to N changed examples.")
def compare(a: str, b: str, as_json: bool, show: int) -> None:
    """Paired, per-example difference B - A between two runs (their recommended rows) or two row folders.

    \b
    Examples:
      ladder compare runs/20261201T0900Z-sst2-ab12cd34 runs/20261202T0900Z-sst2-ab12cd34
      ladder compare runs/X/rows/zero-shot--smollm2-135m runs/X/rows/few-shot--smollm2-135m --json
    """
    from ladder.gate import compare as do_compare

    d = do_compare(a, b)
    if as_json:
        click.echo(json.dumps(d, indent=2, default=str))
        return
    t = d["test"]
    from ladder.stats import PairedTest

    words = PairedTest(**{k: t[k] for k in ("method", "n", "diff", "ci_low", "ci_high", "p_value", "b_wins", "a_wins")}).words()
    console().print(f"A: {d['a']['rung']} / {d['a']['model']}  {d['a']['score']:.3f}\n"
                    f"B: {d['b']['rung']} / {d['b']['model']}  {d['b']['score']:.3f}\n"
                    f"B - A: {words}; {d['gained']} examples gained, {d['lost']} lost, "
                    f"{len(d['changed'])} changed. " + ("A real difference." if t["significant"] else "Not a significant difference."))
    if show and d["changed"]:
        from rich.table import Table

        tab = Table(title=f"changed examples (first {min(show, len(d['changed']))} of {len(d['changed'])})")
        for col in ("#", "input", "expected", "A", "B"):
            tab.add_column(col)
        mark = lambda s: "✓" if (s or 0) >= 1 else "✗"
        for c in d["changed"][:show]:
            tab.add_row(str(c["idx"]), str(c["input"])[:70], str(c["expected"])[:30],
                        f"{mark(c['a_score'])} {str(c['a_output'])[:30]}", f"{mark(c['b_score'])} {str(c['b_output'])[:30]}")
        console().print(tab)


@click.command()
@click.argument("task_file", type=click.Path(dir_okay=False))
@click.option("--program", "program_dir", required=True, help="A saved program folder, e.g. runs/<id>/best.")
@click.option("--baseline", default=None, help="A run directory (its recommended row) or a row folder to beat or tie.")
@click.option("--target", type=float, default=None, help="Override the task's target.")
@click.option("--meets", type=click.Choice(["lower", "mean"]), default="lower", show_default=True,
              help="Judge the target by the 95% interval's lower bound or by the mean.")
@click.option("--limit", type=int, default=None, callback=at_least(1),
              help="Score a fixed, seeded sample of N test examples (default: the baseline's, else all).")
@click.option("--junit", "junit_path", default=None, metavar="FILE", help="Write JUnit XML (one test case per check).")
@click.option("--db", default=None, help="Run store (SQLite) for the call cache.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")
def check(task_file: str, program_dir: str, baseline: str | None, target: float | None, meets: str,
          limit: int | None, junit_path: str | None, db: str | None, as_json: bool) -> None:
    """Score a saved program on the task's test split; exit 1 when it misses the target or is worse
    than the baseline by a paired test (a CI gate).

    \b
    Example:
      ladder check task.toml --program runs/<id>/best --baseline runs/<id0> --junit out.xml
    """
    from ladder.gate import check as do_check
    from ladder.gate import junit_xml
    from ladder.saved import load
    from ladder.store import Store
    from ladder.task import load_task

    task = load_task(task_file)
    result = do_check(task, load(program_dir), baseline=baseline, target=target, meets=meets, limit=limit,
                      store=Store(db))
    if junit_path:
        Path(junit_path).parent.mkdir(parents=True, exist_ok=True)
        Path(junit_path).write_text(junit_xml(result), encoding="utf-8")
    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=2, default=str))
    else:
        console().print(f"{result.program}: {result.score:.3f} {result.metric} "
                        f"[{result.ci_low:.3f}, {result.ci_high:.3f}], n = {result.n}")
        for c in result.checks:
            console().print(f"{'[green]PASS[/green]' if c.passed else '[red]FAIL[/red]'} {c.name}: {c.message}")
    if not result.passed:
        raise SystemExit(1)


@click.command()
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.option("-o", "--out", default="report.html", show_default=True, help="Output file: .html, .md or .json.")
def report(run_dir: str, out: str) -> None:
    """Re-render a climb's report from its run directory.

    \b
    Example:
      ladder report runs/20261201T090000Z-sst2-ab12cd34 -o report.html
    """
    from ladder.report import report_data, write_report

    click.echo(str(write_report(report_data(run_dir), out)))

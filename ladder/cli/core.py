"""`ladder models | run | climb | demo`: thin over ladder.advisor and friends."""
from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

import click

from ladder.cli.common import common_options, console, progress_bar, rung_options, rung_settings
from ladder.cli.decide import climb_decision_options


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")
def models(as_json: bool) -> None:
    """List the bundled models, whether they are installed, and how to add one.

    \b
    Example:
      ladder models
    """
    from ladder.models.bundled import BUNDLED, install_hint, is_installed

    rows = [{"name": b.name, "params": b.params, "chat": b.chat, "tier": b.tier, "installed": is_installed(b.name),
             "sha256": b.sha256, "license": b.license, "install": install_hint(b)} for b in BUNDLED.values()]
    if as_json:
        click.echo(json.dumps({"models": rows}, indent=2))
        return
    from rich.table import Table

    t = Table(title="Bundled models (also: any .gguf path, or openai/<model> with --base-url)")
    for col in ("name", "params", "use", "installed", "sha256"):
        t.add_column(col)
    for r in rows:
        t.add_row(r["name"], f"{r['params'] / 1e6:.0f}M", "chat" if r["chat"] else "base (training only)",
                  "yes" if r["installed"] else f"no: {r['install']}", r["sha256"][:12])
    console().print(t)


@click.command()
@click.argument("task_file", type=click.Path(dir_okay=False))
@click.option("--rung", default="zero-shot", show_default=True, help="zero-shot, few-shot, rag, finetune, pretrain.")
@click.option("--model", "model_spec", default="smollm2-135m", show_default=True,
              help="Bundled name, path to a .gguf, or openai/<model>.")
@rung_options
@common_options
@click.option("--show", default=0, help="Print the first N predictions.")
@click.option("--allow-errors", is_flag=True, help="Exit 0 even when some examples errored (e.g. input too long).")
def run(task_file: str, rung: str, model_spec: str, limit: int | None, as_json: bool, db: str | None,
        base_url: str | None, concurrency: int, prices_file: str | None, target: float | None, show: int,
        allow_errors: bool, **rung_kw: Any) -> None:
    """Evaluate one rung with one model on a task's test split.

    \b
    Example:
      ladder run task.toml --rung few-shot --model qwen2.5-coder-0.5b --limit 200
    """
    from ladder.advisor import run_rung
    from ladder.cost import load_prices
    from ladder.store import Store
    from ladder.task import load_task

    task = load_task(task_file)
    if target is not None:
        task.target = target
    store = Store(db)
    from ladder.rungs import rung_spec

    options = rung_spec(rung).check_options(rung_settings([rung], **rung_kw)[rung])  # before any progress line
    with progress_bar(as_json) as start:
        row, res = run_rung(task, rung, model_spec, store=store, options=options,
                            limit=limit, concurrency=concurrency, prices=load_prices(task.prices, prices_file),
                            progress=start(rung, model_spec, len(task.test) if not limit else min(limit, len(task.test))),
                            base_url=base_url)
    if as_json:
        click.echo(json.dumps({"row": asdict(row), "predictions": res.rows}, indent=2, default=str))
    else:
        print_rows([row], task.target)
        for r in res.rows[:show]:
            mark = "✓" if r["score"] else "✗"
            console().print(f"{mark} [dim]{str(r['input'])[:80]}[/dim] -> {r['output']!r} (expected {r['expected']!r})")
    exit_on_errors([row], allow_errors)


@click.command()
@click.argument("task_file", type=click.Path(dir_okay=False))
@click.option("--models", "model_list", default=None,
              help="Comma-separated models, climbed small -> large. Default: the installed bundled chat models.")
@click.option("--rungs", default="all", show_default=True,
              help="Comma-separated rungs, or 'all' (those that apply: rag and pretrain need a corpus, "
                   "training needs local weights). Training rungs get --train-minutes 10 unless given.")
@click.option("--all", "all_rows", is_flag=True, help="Evaluate every (rung, model), not only up to the first good one.")
@click.option("--allow-errors", is_flag=True, help="Exit 0 even when some examples errored (e.g. input too long).")
@rung_options
@common_options
@climb_decision_options
def climb(task_file: str, model_list: str | None, rungs: str, all_rows: bool, limit: int | None, as_json: bool,
          db: str | None, base_url: str | None, concurrency: int, prices_file: str | None, target: float | None,
          allow_errors: bool, volume: str | None, meets: str, horizon_months: int | None, dry_run: bool,
          budget_minutes: float | None, budget_usd: float | None, runs_dir: str, report_path: str | None,
          **rung_kw: Any) -> None:
    """Climb the rungs across models and recommend the cheapest approach that reaches the target.

    \b
    Examples:
      ladder climb task.toml --models smollm2-135m,qwen2.5-coder-0.5b --target 0.8
      ladder climb task.toml --all --json > climb.json
      ladder climb task.toml --volume 100000/month --dry-run
      ladder climb task.toml --volume 3000/day --budget-minutes 60 --report report.html
    """
    from ladder.advisor import climb as do_climb
    from ladder.cli.decide import after_climb, print_estimate
    from ladder.cost import load_prices
    from ladder.rungs import rung_names
    from ladder.store import Store
    from ladder.task import load_task
    from ladder.verdict import parse_volume

    task = load_task(task_file)
    if target is not None:
        task.target = target
    specs = [m.strip() for m in model_list.split(",")] if model_list else None
    wanted = None if rungs == "all" else [r.strip() for r in rungs.split(",")]
    per_month = parse_volume(volume) if volume else None
    if dry_run:
        from ladder.estimate import estimate

        est = estimate(task, specs, wanted, store=Store(db), limit=limit, base_url=base_url,
                       options=rung_settings(wanted or rung_names(), **rung_kw), prices=load_prices(task.prices, prices_file))
        if as_json:
            click.echo(json.dumps(est, indent=2, default=str))
        else:
            print_estimate(est)
        return
    with progress_bar(as_json) as start:
        options = rung_settings(wanted or rung_names(), **rung_kw)
        result = do_climb(task, specs, wanted, store=Store(db), all_rows=all_rows, options=options,
                          limit=limit, concurrency=concurrency, prices=load_prices(task.prices, prices_file),
                          on_start=start, base_url=base_url, volume=per_month, meets=meets,
                          horizon_months=horizon_months, budget_minutes=budget_minutes, budget_usd=budget_usd,
                          runs_dir=runs_dir or None, task_file=task_file)
    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=2, default=str))
        after_climb(result, report_path)
        exit_on_errors(result.rows, allow_errors)
        return
    print_climb(result, task.target)
    after_climb(result, report_path)
    exit_on_errors(result.rows, allow_errors)


def print_climb(result: Any, target: float | None) -> None:
    """The table, what was skipped or not run, the verdict's headline and findings, the pretraining price."""
    from ladder.advisor import scale_note

    print_rows(result.rows, target)
    skipped: dict[tuple[str, str], list[str]] = {}
    for s in result.skipped:
        skipped.setdefault((s["rung"], s["why"]), []).append(s["model"])
    for (rung, why), models in skipped.items():
        console().print(f"[dim]skipped {rung} ({', '.join(models)}): {why}[/dim]")
    for s in result.not_run:
        console().print(f"[yellow]not run {s['rung']} ({s['model']}): {s['why']}[/yellow]")
    v = result.verdict or {}
    if v.get("headline"):
        console().print(f"[bold]{v['headline']}[/bold]", highlight=False)
        for sentence in v.get("sentences", []):
            console().print(f"- {sentence}", highlight=False)
    else:
        console().print(result.recommendation)
    if result.pretrain_at_scale:
        console().print(f"[dim]{scale_note(result.pretrain_at_scale)}[/dim]")


def exit_on_errors(rows: list[Any], allowed: bool) -> None:
    """Exit 1 with one line when any example errored (its score counts as wrong), unless allowed."""
    errored = sum(r.errors for r in rows)
    if errored and not allowed:
        total = sum(r.n for r in rows)
        click.echo(f"error: {errored} of {total} examples errored (scored as wrong; e.g. an input longer than the "
                   "model's context); see them with --json (predictions[].error), or pass --allow-errors", err=True)
        raise SystemExit(1)


def print_rows(rows: list[Any], target: float | None) -> None:
    from rich.table import Table

    def money(x: float | None) -> str:
        return "n/a" if x is None else f"${x:.4f}"

    t = Table(title=f"target {target}" if target is not None else None)
    for col in ("rung", "model", "score [95% CI]", "n", "errors", "p50 / p95 latency", "$/1k req", "one-time $",
                "$/1k amortised", "target"):
        t.add_column(col, justify="right" if col not in ("rung", "model") else "left")
    for r in rows:
        mark = {True: "[green]yes[/green]", False: "[red]no[/red]", None: "-"}[r.meets_target]
        t.add_row(r.rung, r.model, f"{r.score:.3f} [{r.ci_low:.3f}, {r.ci_high:.3f}]", str(r.n),
                  f"[red]{r.errors}[/red]" if r.errors else "0",
                  f"{r.latency_p50 * 1000:.0f} / {r.latency_p95 * 1000:.0f} ms", money(r.cost_per_1k),
                  money(r.one_time_cost), money(r.amortised_per_1k), mark)
    console().print(t)


@click.command()
@click.option("--out", default="demo/wiki-topics", show_default=True, help="Folder to write the task into.")
@click.option("--test-size", default=300, show_default=True)
def demo(out: str, test_size: int) -> None:
    """Write the bundled demo task (Wikipedia lead section -> topic) to a folder.

    \b
    Example:
      ladder demo --out demo/wiki-topics && ladder climb demo/wiki-topics/task.toml --limit 100
    """
    from ladder.data.wiki_topics import build

    path = build(out, n_test=test_size)
    click.echo(str(path))

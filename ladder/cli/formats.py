"""`ladder import-promptfoo` and `ladder export chat|ollama`: formats people already have."""
from __future__ import annotations

import json

import click


@click.command("import-promptfoo")
@click.argument("config", type=click.Path(dir_okay=False))
@click.option("--out", required=True, help="Folder for task.toml, train.jsonl and test.jsonl.")
@click.option("--train-share", type=float, default=0.2, show_default=True,
              help="Share of the tests (seeded) that become the train split (0 with fewer than 10 tests).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")
def import_promptfoo(config: str, out: str, train_share: float, seed: int, as_json: bool) -> None:
    """Turn a promptfoo config's tests (equals/contains assertions) into a ladder task folder.

    \b
    Example:
      ladder import-promptfoo promptfooconfig.yaml --out tasks/support && ladder climb tasks/support/task.toml
    """
    from ladder.promptfoo import import_promptfoo as run

    summary = run(config, out, train_share=train_share, seed=seed)
    if as_json:
        click.echo(json.dumps(summary, indent=2))
        return
    click.echo(f"wrote {summary['task']}: {summary['train']} train and {summary['test']} test examples, "
               f"metric {summary['metric']}")
    if summary["equals_scored_as_contains"]:
        click.echo(f"{summary['equals_scored_as_contains']} equality assertions are scored as containment")
    for why in summary["skipped"]:
        click.echo(f"left out {why}", err=True)


@click.group()
def export() -> None:
    """Export a task's train split as chat JSONL, or a saved program for Ollama.

    \b
    Examples:
      ladder export chat task.toml --out train.chat.jsonl
      ladder export ollama runs/<id>/best --out ollama/ && ollama create mytask -f ollama/Modelfile
    """


@export.command("chat")
@click.argument("task_file", type=click.Path(dir_okay=False))
@click.option("--out", required=True, help="The .jsonl file to write.")
@click.option("--split", type=click.Choice(["train", "dev"]), default="train", show_default=True)
def export_chat(task_file: str, out: str, split: str) -> None:
    """A split as OpenAI chat JSONL ({"messages": [...]}) with the prompt ladder's finetune rung uses."""
    from ladder.export import export_chat_jsonl
    from ladder.task import load_task

    n = export_chat_jsonl(load_task(task_file), out, split)
    click.echo(f"wrote {n} {split} examples to {out}")


@export.command("ollama")
@click.argument("program_dir", type=click.Path(file_okay=False))
@click.option("--out", required=True, help="Folder for base.gguf, adapter.gguf and the Modelfile.")
def export_ollama(program_dir: str, out: str) -> None:
    """A saved program's GGUF base (+ LoRA adapter) and an Ollama Modelfile with its prompt and demos."""
    from ladder.export import export_ollama as run

    info = run(program_dir, out)
    click.echo(f"wrote {info['out']} ({info['rung']}, adapter: {'yes' if info['adapter'] else 'no'}, "
               f"{info['demos']} demos); then: {info['create']}")

"""The `ladder` command: a thin, lazily-loaded layer over the library.

Each command lives in a module of this package and is imported only when
invoked, so `ladder --help` stays fast. Library errors (LadderError) become one
line on stderr and exit code 2.
"""
from __future__ import annotations

import importlib
import sys

import click

# command name -> "module:attribute" (a click.Command)
COMMANDS: dict[str, str] = {
    "models": "ladder.cli.core:models",
    "run": "ladder.cli.core:run",
    "climb": "ladder.cli.core:climb",
    "report": "ladder.cli.decide:report",
    "compare": "ladder.cli.decide:compare",
    "check": "ladder.cli.decide:check",
    "demo": "ladder.cli.core:demo",
    "serve": "ladder.cli.serve:serve",
    "index": "ladder.cli.retrieval:index",
    "search": "ladder.cli.retrieval:search",
    "ask": "ladder.cli.answer:ask",
    "eval-retrieval": "ladder.cli.retrieval:eval_retrieval",
    "train-reranker": "ladder.cli.retrieval_train:train_reranker",
    "train-embedder": "ladder.cli.retrieval_train:train_embedder",
    "adapt": "ladder.cli.adapt:adapt",
    "finetune": "ladder.cli.train:finetune",
    "distill": "ladder.cli.train:distill",
    "pretrain": "ladder.cli.pretrain:pretrain",
    "plan-pretrain": "ladder.cli.pretrain:plan_pretrain",
    "import-promptfoo": "ladder.cli.formats:import_promptfoo",
    "export": "ladder.cli.formats:export",
}

SUMMARIES = {
    "models": "List the bundled models and where they are.",
    "run": "Evaluate one rung with one model on a task.",
    "climb": "Climb the rungs across models; recommend the cheapest that is good enough.",
    "report": "Re-render a climb's report (HTML, Markdown, JSON) from its run directory.",
    "compare": "Paired, per-example difference between two runs.",
    "check": "CI gate: score a saved program; exit 1 below target or worse than a baseline.",
    "demo": "Write the bundled demo task (Wikipedia topics) to a folder.",
    "serve": "Serve a saved program (OpenAI-compatible API), an index (search, ask) and the dashboard.",
    "index": "Build a search index from a corpus (JSONL, BEIR folder, Wikipedia dump).",
    "search": "Search an index (bm25, dense, hybrid; optional rerank).",
    "ask": "Answer a question from an index, citing passages.",
    "eval-retrieval": "Score retrieval on a BEIR folder (nDCG@10, Recall@100, MRR@10).",
    "train-reranker": "Train a cross-encoder reranker.",
    "train-embedder": "Fine-tune the dense embedder on a BEIR train split.",
    "adapt": "Adapt search to a corpus without labels (synthetic questions -> embedder, cross-encoder).",
    "finetune": "LoRA fine-tune a bundled model on a task's train split.",
    "distill": "Label inputs with a teacher model, then fine-tune a student on them.",
    "pretrain": "Continued pretraining of a base model, or a small model from scratch.",
    "plan-pretrain": "Estimate what pretraining would cost at scale.",
    "import-promptfoo": "Turn a promptfoo config's tests into a ladder task.",
    "export": "Export a train split as chat JSONL, or a saved program for Ollama.",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS:
            return None
        module, attr = COMMANDS[name].split(":")
        try:
            return getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError) as e:
            why = str(e)

            @click.command(name=name, help=SUMMARIES.get(name, ""))
            def unavailable() -> None:
                raise click.ClickException(f"'{name}' is not available in this install ({why}); run 'make install'")
            return unavailable

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # Summaries come from the table above, so listing commands imports none of them.
        with formatter.section("Commands"):
            formatter.write_dl([(n, SUMMARIES.get(n, "")) for n in COMMANDS])


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="ladder")
def cli() -> None:
    """Start with a prompt, measure on your own examples, climb only as far as the numbers say.

    \b
    Example:
      ladder climb task.toml --models smollm2-135m,qwen2.5-coder-0.5b --target 0.8
    """


def main() -> None:
    from ladder.errors import LadderError

    try:
        cli.main(standalone_mode=False)
    except LadderError as e:
        click.echo(f"error: {e}", err=True)
        sys.exit(2)
    except click.exceptions.Abort:
        click.echo("interrupted; finished work is saved, the same command resumes", err=True)
        sys.exit(130)
    except click.ClickException as e:
        e.show()
        sys.exit(2 if isinstance(e, click.UsageError) else e.exit_code)
    except click.exceptions.Exit as e:
        sys.exit(e.exit_code)
    except KeyboardInterrupt:
        click.echo("interrupted; finished work is saved, the same command resumes", err=True)
        sys.exit(130)

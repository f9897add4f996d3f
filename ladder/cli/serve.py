"""`ladder serve`: a saved program (OpenAI-compatible), an index (search + ask), and the dashboard."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import click

from ladder.cli.common import open_searcher, rung_options, rung_settings


@click.command()
@click.argument("path", required=False, type=click.Path())
@click.option("--index", "index_dir", default=None, type=click.Path(), help="Serve /v1/search and /v1/ask over this index folder.")
@click.option("--runs", "runs_dir", default="runs", show_default=True, help="Runs folder the dashboard lists.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Any non-loopback address needs --api-key.")
@click.option("--port", default=8321, show_default=True)
@click.option("--api-key", default=None, help="Require 'Authorization: Bearer KEY' (else LADDER_API_KEY).")
@click.option("--name", default=None, help="Model id clients send (default: the program folder's name).")
@click.option("--adapted", is_flag=True, help="With --index: use the embedder and cross-encoder 'ladder adapt' trained for it.")
@click.option("--ask-model", default="smollm2-135m", show_default=True, help="Model that writes /v1/ask answers.")
@click.option("--max-body", default=1 << 20, show_default=True, help="Largest request body in bytes (413 above).")
@click.option("--max-tokens", "max_tokens", default=512, show_default=True, help="Largest max_tokens a request may ask.")
@click.option("--read-timeout", default=10.0, show_default=True, help="Seconds to receive a request body (408 after).")
@click.option("--no-verify", is_flag=True, help="Load a saved program even if its files or model hash changed.")
@click.option("--rung", default="zero-shot", show_default=True, help="With a task.toml PATH: the rung to compile.")
@click.option("--model", "model_spec", default="smollm2-135m", show_default=True, help="With a task.toml PATH: the model.")
@click.option("--base-url", default=None, help="For openai/<model>: the server's base URL.")
@rung_options
def serve(path: str | None, index_dir: str | None, runs_dir: str, host: str, port: int, api_key: str | None,
          name: str | None, adapted: bool, ask_model: str, max_body: int, max_tokens: int, read_timeout: float, no_verify: bool,
          rung: str, model_spec: str, base_url: str | None, **rung_kw: Any) -> None:
    """Serve a saved program behind an OpenAI-compatible API, an index for search and ask, and a dashboard.

    PATH is a saved program folder (runs/<id>/best, or a row's program/), or a task.toml to compile
    with --rung and --model. The chat endpoint answers the last user message with the program
    (a one-field task reads the message as that field; several fields: a JSON object of them).

    \b
    Examples:
      ladder serve runs/<id>/best --port 8000 --api-key $KEY
      ladder serve --index idx/ --port 8000                 # search + ask + dashboard
      ladder serve --index idx/ --rerank cross-encoder      # ... with reranked results
      ladder serve task.toml --rung few-shot --model qwen2.5-coder-0.5b
      curl -s localhost:8321/v1/chat/completions -d '{"model": "best", "messages": [{"role": "user", "content": "..."}]}'
    """
    from ladder.errors import LadderError
    from ladder.server import check_bind
    from ladder.server import serve as run_server
    from ladder.server.app import Limits, Served

    key = api_key or os.environ.get("LADDER_API_KEY") or None
    check_bind(host, key)  # before loading anything
    for opt, value, low in (("--max-body", max_body, 1), ("--max-tokens", max_tokens, 1), ("--port", port, 0)):
        if value < low:
            raise LadderError(f"{opt} must be at least {low}, not {value}")
    if not read_timeout > 0:
        raise LadderError(f"--read-timeout must be more than 0 seconds, not {read_timeout}")
    if path is None and index_dir is None:
        raise LadderError("give a saved program folder (PATH), --index DIR, or both; see 'ladder serve --help'")
    if adapted and index_dir is None:
        raise LadderError("--adapted applies to an index's search and ask; add --index DIR")
    # --rerank reranks the index's results, and the rag rung's when a task.toml is compiled with it
    rerank_spec = rung_kw["rerank"] if index_dir else None
    if index_dir and not (path and path.endswith(".toml") and rung == "rag"):
        rung_kw["rerank"] = None
    served = Served(name=name or "program", runs_dir=Path(runs_dir), api_key=key,
                    limits=Limits(max_body=max_body, read_timeout=read_timeout, max_tokens=max_tokens))
    if path is not None:
        served.program, default_name = _program(Path(path), no_verify, rung, model_spec, base_url, rung_kw)
        served.name = name or default_name
    if index_dir is not None:  # loaded before the server starts: a bad spec is an error here, not on a request
        served.index, served.reranker = open_searcher(index_dir, rerank_spec, adapted)
        served.ask_model = lambda: _load(ask_model, base_url)
    run_server(served, host, port)


def _load(spec: str, base_url: str | None) -> Any:
    from ladder.models import load_model

    return load_model(spec, base_url=base_url)


def _program(path: Path, no_verify: bool, rung: str, model_spec: str, base_url: str | None,
             rung_kw: dict[str, Any]) -> tuple[Any, str]:
    """(SavedProgram, default model id) for a saved folder or a task file compiled now."""
    from ladder.errors import LadderError
    from ladder.saved import load, wrap

    if path.is_dir():
        given = [k for k, v in rung_kw.items() if v not in (None, ())]
        if given:
            flag = "--option" if given[0] == "extra" else "--" + given[0].replace("_", "-")
            hint = " (to rerank an index's results, add --index DIR)" if flag == "--rerank" else ""
            raise LadderError(f"{flag}: rung options shape a task.toml compiled now; the saved program {path} "
                              f"keeps its own{hint}")
        folder = _program_folder(path)
        name = path.resolve().name if folder == path else folder.resolve().parent.name if folder.name == "program" else "best"
        return load(folder, verify=not no_verify, base_url=base_url), name
    if path.suffix != ".toml":
        raise LadderError(f"{path}: not a saved program folder or a task .toml file")
    from ladder.rungs import get_rung
    from ladder.task import load_task

    task = load_task(path)
    program = get_rung(rung)(task, _load(model_spec, base_url), rung_settings([rung], **rung_kw)[rung])
    return wrap(program), task.name


def _program_folder(path: Path) -> Path:
    """A saved program folder, also when given a run directory (its best/) or a row folder (its program/)."""
    for candidate in (path, path / "program", path / "best"):
        if (candidate / "program.json").is_file():
            return candidate
    return path  # load() says what is missing

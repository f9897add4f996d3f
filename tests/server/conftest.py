"""Fixtures for the server tests: a saved program on a DummyModel, a small in-memory index, a run folder,
and a real uvicorn server on a free loopback port (in a thread) for the socket-level cases."""
import json
import socket
import threading
import time

import pytest

from ladder.rungs import get_rung
from ladder.saved import load, save_program
from ladder.task import load_task
from ladder.testing import DummyEmbedder, DummyModel

PASSAGES = [
    ("rome", "Rome", "Rome is the capital of Italy. The Colosseum stands in Rome."),
    ("paris", "Paris", "Paris is the capital of France. The Eiffel Tower was completed in 1889."),
    ("sistine", "Sistine Chapel", "Michelangelo painted the ceiling of the Sistine Chapel between 1508 and 1512."),
    ("aspen", "Aspen", "Aspen is a town in Colorado, about 200 miles west of Denver."),
]


def sentiment_model():
    def respond(messages):
        return "positive" if "love" in messages[-1]["content"].lower() else "negative"
    return DummyModel(respond=respond)


@pytest.fixture
def saved_dir(sentiment_task, tmp_path):
    program = get_rung("few-shot")(load_task(sentiment_task), sentiment_model(), {"k": 2, "selector": "fixed"})
    return save_program(program, tmp_path / "best")


@pytest.fixture
def program(saved_dir):
    return load(saved_dir, model=sentiment_model())


@pytest.fixture
def small_index():
    """An in-memory index over PASSAGES: real BM25, hashed bag-of-words vectors (use method bm25)."""
    from ladder.retrieval.bm25 import BM25
    from ladder.retrieval.chunk import Chunk
    from ladder.retrieval.index import Index

    chunks = [Chunk(*p) for p in PASSAGES]
    texts = [f"{c.title}\n{c.text}" for c in chunks]
    return Index(chunks, BM25().index(texts), DummyEmbedder(16).encode(texts), {"n_docs": len(chunks)})


@pytest.fixture
def runs_dir(tmp_path):
    """A run folder as ladder.rundir writes it: run.json and two rows' predictions."""
    run = tmp_path / "runs" / "20261201T030000Z-sentiment-abcdef12"
    rows = [
        {"rung": "zero-shot", "model": "smollm2-135m", "metric": "accuracy", "score": 0.5, "ci_low": 0.0,
         "ci_high": 1.0, "n": 4, "latency_p50": 0.05, "latency_p95": 0.08, "cost_per_1k": 0.001,
         "amortised_per_1k": 0.001, "meets_target": False, "dir": "rows/zero-shot--smollm2-135m"},
        {"rung": "few-shot", "model": "smollm2-135m", "metric": "accuracy", "score": 1.0, "ci_low": 1.0,
         "ci_high": 1.0, "n": 4, "latency_p50": 0.09, "latency_p95": 0.12, "cost_per_1k": 0.002,
         "amortised_per_1k": 0.002, "meets_target": True, "dir": "rows/few-shot--smollm2-135m",
         "loss_curve": [{"step": 1, "loss": 2.5}, {"step": 2, "loss": 1.75}, {"step": 3, "loss": 1.25}]},
    ]
    inputs = ["An absolute joy", "The best purchase", "A painful waste", "The worst purchase"]
    expected = ["positive", "positive", "negative", "negative"]
    outputs = [["negative", "positive", "negative", "negative"], expected]
    for row, outs in zip(rows, outputs):
        d = run / row["dir"]
        d.mkdir(parents=True)
        d.joinpath("predictions.jsonl").write_text("".join(
            json.dumps({"idx": i, "input": x, "expected": e, "output": o, "score": float(o == e), "error": None,
                        "usage": {}}) + "\n" for i, (x, e, o) in enumerate(zip(inputs, expected, outs))))
    doc = {"format": "ladder.run/1", "id": run.name, "created": "2026-12-01T03:00:00Z",
           "task": {"name": "sentiment", "target": 0.75}, "rows": rows, "best_index": 1, "best": rows[1],
           "recommendation": "Use few-shot with smollm2-135m: it meets the target 0.75.",
           "verdict": {"pareto": [0, 1]}}
    (run / "run.json").write_text(json.dumps(doc))
    return run.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def live(request):
    """live(served) -> base URL of a real uvicorn server in a thread (stopped after the test)."""
    import uvicorn

    from ladder.server.app import create_app

    servers = []

    def start(served):
        port = free_port()
        server = uvicorn.Server(uvicorn.Config(create_app(served), host="127.0.0.1", port=port, log_level="error",
                                               timeout_keep_alive=5))
        t = threading.Thread(target=server.run, daemon=True)
        t.start()
        deadline = time.monotonic() + 10
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.02)
        servers.append((server, t))
        return f"http://127.0.0.1:{port}"

    yield start
    for server, t in servers:
        server.should_exit = True
        t.join(5)

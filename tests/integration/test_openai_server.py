"""The OpenAI-compatible backend against a real server on loopback: llama.cpp's own, serving SmolLM2."""
import socket
import subprocess
import sys
import time

import httpx
import pytest

from ladder.advisor import run_rung
from ladder.models import load_model
from ladder.models.bundled import model_path
from ladder.store import Store
from ladder.task import load_task

pytestmark = pytest.mark.integration


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    pytest.importorskip("fastapi", reason="llama-cpp-python[server] extras not installed")
    port = free_port()
    log = tmp_path_factory.mktemp("server") / "server.log"  # a file, not a pipe: llama.cpp logs a lot at load
    proc = subprocess.Popen([sys.executable, "-m", "llama_cpp.server", "--model", str(model_path("smollm2-135m")),
                             "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "2048", "--model_alias", "smol"],
                            stdout=subprocess.DEVNULL, stderr=open(log, "wb"))
    url = f"http://127.0.0.1:{port}/v1"
    for _ in range(240):
        try:
            if httpx.get(f"{url}/models", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if proc.poll() is not None:
            pytest.fail(f"llama_cpp.server exited: {log.read_text()[-500:]}")
        time.sleep(0.5)
    else:
        proc.kill()
        pytest.fail(f"llama_cpp.server did not answer within 2 minutes: {log.read_text()[-500:]}")
    yield url
    proc.terminate()
    proc.wait(10)


def test_chat_completion_with_usage(server):
    m = load_model("openai/smol", base_url=server, reuse=False)
    out = m.complete([{"role": "user", "content": "Say hello."}], max_tokens=8)
    assert out.text and out.usage.tokens_in > 0 and 0 < out.usage.tokens_out <= 8
    assert not m.local and not m.scores_choices


def test_a_run_against_the_server_with_requests_in_flight(server, sentiment_task, tmp_path):
    task = load_task(sentiment_task)
    row, res = run_rung(task, "zero-shot", "openai/smol", store=Store(tmp_path / "r.db"), concurrency=3,
                        base_url=server)
    assert row.n == 4 and all(r["output"] for r in res.rows)
    assert all(r["output"] in task.labels or r["output"] for r in res.rows)
    assert row.tokens_in > 0 and row.cost_per_1k is None  # no token price for a self-hosted model


def test_unreachable_server_is_a_clear_error():
    m = load_model("openai/x", base_url=f"http://127.0.0.1:{free_port()}/v1", reuse=False)
    m.retries = 0
    with pytest.raises(Exception, match="cannot reach"):
        m.complete([{"role": "user", "content": "hi"}])

"""The official `openai` client against a real `ladder serve` process on loopback (SmolLM2 zero-shot)."""
import os
import subprocess
import sys
import time

import httpx
import pytest

from tests.server.conftest import free_port

pytestmark = pytest.mark.integration
KEY = "test-key-123"


@pytest.fixture(scope="module")
def smol_program(tmp_path_factory):
    from ladder.models import load_model
    from ladder.models.bundled import is_installed
    from ladder.rungs import get_rung
    from ladder.saved import save_program
    from ladder.task import Task

    if not is_installed("smollm2-135m"):
        pytest.skip("smollm2-135m is not installed")
    rows = [{"text": "I loved this film", "label": "positive"}, {"text": "I hated this film", "label": "negative"}]
    task = Task("sentiment", "Classify the sentiment of the review.", "{text}", "label", train=rows, test=rows,
                labels=["negative", "positive"])
    return save_program(get_rung("zero-shot")(task, load_model("smollm2-135m"), {}),
                        tmp_path_factory.mktemp("prog") / "best")


def start(args, env_extra=None):
    port = free_port()
    env = {**os.environ, "LADDER_THREADS": "1", **(env_extra or {})}
    proc = subprocess.Popen([sys.executable, "-m", "ladder", "serve", *args, "--port", str(port)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"ladder serve exited {proc.returncode}: {proc.stdout.read()}")
        try:
            if httpx.get(url + "/health", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            time.sleep(0.3)
    proc.kill()
    raise AssertionError("ladder serve did not answer /health within 120 s")


@pytest.fixture(scope="module")
def server(smol_program):
    proc, url = start([str(smol_program), "--api-key", KEY])
    yield url
    proc.terminate()
    proc.wait(10)


def test_openai_client_chat_matches_the_loaded_program(server, smol_program):
    from openai import OpenAI

    from ladder.saved import load

    client = OpenAI(base_url=server + "/v1", api_key=KEY)
    assert [m.id for m in client.models.list().data] == ["best"]
    reviews = ["An absolute joy to watch", "A painful waste of time"]
    answers = [client.chat.completions.create(model="best", messages=[{"role": "user", "content": r}])
               for r in reviews]
    assert all(a.choices[0].message.content in ("negative", "positive") for a in answers)
    assert answers[0].usage.prompt_tokens > 0
    program = load(smol_program)
    assert [a.choices[0].message.content for a in answers] == [program({"text": r}) for r in reviews]


def test_openai_client_streams(server):
    from openai import OpenAI

    client = OpenAI(base_url=server + "/v1", api_key=KEY)
    msgs = [{"role": "user", "content": "An absolute joy to watch"}]
    whole = client.chat.completions.create(model="best", messages=msgs).choices[0].message.content
    stream = client.chat.completions.create(model="best", messages=msgs, stream=True)
    parts = [c.choices[0].delta.content or "" for c in stream if c.choices]
    assert "".join(parts) == whole


def test_free_text_streams_token_by_token(smol_program, tmp_path):
    """A free-text program on SmolLM2: the stream arrives in many chunks and joins to the non-streamed answer."""
    from openai import OpenAI

    from ladder.models import load_model
    from ladder.rungs import get_rung
    from ladder.saved import save_program
    from ladder.task import Task

    rows = [{"q": "What is the capital of France?", "a": "Paris"}]
    task = Task("qa", "Answer the question in one sentence.", "{q}", "a", train=rows, test=rows)
    folder = save_program(get_rung("zero-shot")(task, load_model("smollm2-135m"), {}), tmp_path / "qa")
    proc, url = start([str(folder)])
    try:
        client = OpenAI(base_url=url + "/v1", api_key="unused")
        msgs = [{"role": "user", "content": "Where is the Eiffel Tower?"}]
        whole = client.chat.completions.create(model="qa", messages=msgs, max_tokens=40).choices[0].message.content
        stream = client.chat.completions.create(model="qa", messages=msgs, max_tokens=40, stream=True)
        parts = [c.choices[0].delta.content for c in stream if c.choices and c.choices[0].delta.content]
    finally:
        proc.terminate()
        proc.wait(10)
    assert len(whole.split()) >= 3 and len(parts) >= 3
    assert "".join(parts) == whole


def test_wrong_or_missing_key_is_refused(server):
    import openai
    from openai import OpenAI

    with pytest.raises(openai.AuthenticationError) as e:
        OpenAI(base_url=server + "/v1", api_key="wrong").chat.completions.create(
            model="best", messages=[{"role": "user", "content": "hi"}])
    assert e.value.status_code == 401 and "API key" in str(e.value)
    with pytest.raises(openai.NotFoundError):
        OpenAI(base_url=server + "/v1", api_key=KEY).chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": "hi"}])


def test_public_bind_without_a_key_refuses_to_start(smol_program):
    env = {k: v for k, v in os.environ.items() if k != "LADDER_API_KEY"}
    r = subprocess.run([sys.executable, "-m", "ladder", "serve", str(smol_program), "--host", "0.0.0.0"],
                       capture_output=True, text=True, timeout=60, env=env)
    assert r.returncode == 2 and "an API key is required" in r.stderr and "Traceback" not in r.stderr

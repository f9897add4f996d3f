"""The OpenAI-compatible surface with FastAPI's TestClient and a DummyModel."""
import json

import pytest

from ladder.server.app import Served, create_app
from ladder.testing import DummyModel


@pytest.fixture
def client(program):
    from fastapi.testclient import TestClient

    return TestClient(create_app(Served(program=program, name="best")))


def chat(client, content, **kw):
    return client.post("/v1/chat/completions", json={"model": "best", "messages": [{"role": "user", "content": content}], **kw})


def test_models_lists_the_program(client):
    r = client.get("/v1/models")
    assert r.status_code == 200 and [m["id"] for m in r.json()["data"]] == ["best"]


def test_chat_answers_with_the_saved_program(client, program):
    r = chat(client, "I love it")
    body = r.json()
    assert r.status_code == 200 and body["object"] == "chat.completion"
    assert body["choices"][0]["message"] == {"role": "assistant", "content": "positive"}
    assert body["usage"]["prompt_tokens"] > 0
    assert chat(client, "Boring").json()["choices"][0]["message"]["content"] == "negative"
    # the model saw the saved program's prompt: system instruction, the two saved demos, then the message
    sent = program.model.calls[-1]["messages"]
    assert sent[0]["role"] == "system" and sent[0]["content"].startswith("Classify the sentiment")
    assert [m["content"] for m in sent[1:5:2]] == [d["text"] for d in program.program.demos]
    assert sent[-1] == {"role": "user", "content": "Boring"}


def test_content_parts_are_read_as_text(client):
    r = chat(client, [{"type": "text", "text": "I love"}, {"type": "text", "text": "this"}])
    assert r.json()["choices"][0]["message"]["content"] == "positive"


def test_stream_sends_openai_chunks_then_done(client):
    with client.stream("POST", "/v1/chat/completions", json={
            "model": "best", "stream": True, "stream_options": {"include_usage": True},
            "messages": [{"role": "user", "content": "I love it"}]}) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        events = [line[6:] for line in r.iter_lines() if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    assert all(c["object"] == "chat.completion.chunk" and c["id"] == chunks[0]["id"] for c in chunks)
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
    assert text == "positive"
    assert [c["choices"][0]["finish_reason"] for c in chunks if c["choices"]][-1] == "stop"
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["total_tokens"] > 0


@pytest.mark.parametrize("body, status, param", [
    ({"messages": [{"role": "user", "content": "x"}]}, 400, "model"),
    ({"model": "best", "messages": []}, 400, "messages"),
    ({"model": "best", "messages": [{"role": "system", "content": "x"}]}, 400, "messages"),
    ({"model": "best", "messages": [{"role": "user", "content": 5}]}, 400, "messages"),
    ({"model": "best", "messages": [{"role": "user", "content": "x"}], "max_tokens": 100000}, 400, "max_tokens"),
    ({"model": "best", "messages": [{"role": "user", "content": "x"}], "max_tokens": 0}, 400, "max_tokens"),
    ({"model": "best", "messages": [{"role": "user", "content": "x"}], "n": 3}, 400, "n"),
    ({"model": "other", "messages": [{"role": "user", "content": "x"}]}, 404, "model"),
])
def test_bad_chat_requests_get_openai_errors(client, body, status, param):
    r = client.post("/v1/chat/completions", json=body)
    err = r.json()["error"]
    assert r.status_code == status and err["param"] == param and err["message"] and "type" in err and "code" in err


def test_bad_stream_request_is_an_error_not_a_stream(client):
    r = client.post("/v1/chat/completions", json={"model": "best", "stream": True, "messages": [{"role": "user"}]})
    assert r.status_code == 400 and r.json()["error"]["type"] == "invalid_request_error"


def test_unknown_route_and_non_json_body(client):
    r = client.get("/v1/nothing")
    assert r.status_code == 404 and "no route GET /v1/nothing" in r.json()["error"]["message"]
    r = client.post("/v1/chat/completions", content=b"{oops")
    assert r.status_code == 400 and "not valid JSON" in r.json()["error"]["message"]


def test_max_tokens_lowers_the_free_text_budget(sentiment_task, tmp_path):
    from fastapi.testclient import TestClient

    from ladder.rungs import get_rung
    from ladder.saved import load, save_program
    from ladder.task import load_task
    from ladder.testing import DummyModel

    task = load_task(sentiment_task)
    task.labels = None  # free text
    folder = save_program(get_rung("zero-shot")(task, DummyModel(default="fine"), {}), tmp_path / "free")
    model = DummyModel(default="fine")
    client = TestClient(create_app(Served(program=load(folder, model=model), name="free")))
    r = client.post("/v1/chat/completions", json={"model": "free", "max_tokens": 7,
                                                  "messages": [{"role": "user", "content": "hi"}]})
    assert r.status_code == 200 and model.calls[-1]["max_tokens"] == 7
    client.post("/v1/chat/completions", json={"model": "free", "messages": [{"role": "user", "content": "hi"}]})
    assert model.calls[-1]["max_tokens"] == task.answer_budget


def test_several_fields_come_as_a_json_object(tmp_path):
    from fastapi.testclient import TestClient

    from ladder.rungs import get_rung
    from ladder.saved import load, save_program
    from ladder.task import Task
    from ladder.testing import DummyModel

    rows = [{"q": "capital of France?", "ctx": "Paris is in France.", "a": "Paris"}]
    task = Task("qa", "Answer from the context.", "{ctx}\nQ: {q}", "a", train=rows, test=rows)
    model = DummyModel(default="Paris")
    program = load(save_program(get_rung("zero-shot")(task, model, {}), tmp_path / "qa"), model=model)
    client = TestClient(create_app(Served(program=program, name="qa")))
    r = client.post("/v1/chat/completions", json={"model": "qa", "messages": [
        {"role": "user", "content": json.dumps({"q": "capital?", "ctx": "Rome is in Italy."})}]})
    assert r.status_code == 200 and model.calls[-1]["messages"][-1]["content"] == "Rome is in Italy.\nQ: capital?"
    r = client.post("/v1/chat/completions", json={"model": "qa", "messages": [{"role": "user", "content": "capital?"}]})
    assert r.status_code == 400 and '{"ctx": "...", "q": "..."}' in r.json()["error"]["message"]
    r = client.post("/v1/chat/completions", json={"model": "qa", "messages": [{"role": "user", "content": '{"q": "x"}'}]})
    assert r.status_code == 400 and "missing field 'ctx'" in r.json()["error"]["message"]


def test_api_key_is_checked_as_bearer(program):
    from fastapi.testclient import TestClient

    client = TestClient(create_app(Served(program=program, name="best", api_key="s3cret")))
    body = {"model": "best", "messages": [{"role": "user", "content": "I love it"}]}
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "s3cret"}):
        r = client.post("/v1/chat/completions", json=body, headers=headers)
        assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_api_key"
    assert client.get("/v1/models").status_code == 401
    assert client.post("/predict", json={"fields": {"text": "x"}}).status_code == 401
    assert client.get("/health").status_code == 200  # liveness stays open
    ok = client.post("/v1/chat/completions", json=body, headers={"Authorization": "Bearer s3cret"})
    assert ok.status_code == 200 and ok.json()["choices"][0]["message"]["content"] == "positive"


def test_refuses_a_public_bind_without_a_key():
    from ladder.errors import LadderError
    from ladder.server import check_bind

    with pytest.raises(LadderError, match="--api-key KEY or set LADDER_API_KEY"):
        check_bind("0.0.0.0", None)
    check_bind("0.0.0.0", "k")
    check_bind("127.0.0.1", None)
    check_bind("::1", None)


def test_model_errors_are_json_not_dropped_connections(sentiment_task, tmp_path):
    from fastapi.testclient import TestClient

    from ladder.models.base import ModelError, PromptTooLong
    from ladder.rungs import get_rung
    from ladder.saved import load, save_program
    from ladder.task import load_task
    from ladder.testing import DummyModel

    errors = iter([PromptTooLong("prompt of 5000 tokens does not fit"), ModelError("backend down"), RuntimeError("bug")])

    def respond(messages):
        raise next(errors)

    model = DummyModel(respond=respond)
    folder = save_program(get_rung("zero-shot")(load_task(sentiment_task), model, {}), tmp_path / "p")
    client = TestClient(create_app(Served(program=load(folder, model=model), name="p")), raise_server_exceptions=False)
    codes = [client.post("/predict", json={"fields": {"text": "x"}}) for _ in range(3)]
    assert [r.status_code for r in codes] == [400, 502, 500]
    assert codes[0].json()["error"]["code"] == "context_length_exceeded"
    assert "backend down" in codes[1].json()["error"]["message"]
    assert "RuntimeError" in codes[2].json()["error"]["message"]


def free_text_client(sentiment_task, tmp_path, model, name="free"):
    from fastapi.testclient import TestClient

    from ladder.rungs import get_rung
    from ladder.saved import load, save_program
    from ladder.task import load_task

    task = load_task(sentiment_task)
    task.labels = None  # free text
    folder = save_program(get_rung("zero-shot")(task, model, {}), tmp_path / name)
    return TestClient(create_app(Served(program=load(folder, model=model), name=name)))


def stream_text(client, name, content):
    with client.stream("POST", "/v1/chat/completions", json={
            "model": name, "stream": True, "messages": [{"role": "user", "content": content}]}) as r:
        chunks = [json.loads(line[6:]) for line in r.iter_lines() if line.startswith("data: {")]
    return [c["choices"][0]["delta"].get("content") for c in chunks if c["choices"]][1:]


def test_free_text_streams_piece_by_piece_and_joins_to_the_whole_answer(sentiment_task, tmp_path):
    from ladder.testing import DummyModel

    answer = "Rome is the capital of Italy, on the Tiber."
    model = DummyModel(default=answer, streams=True)
    client = free_text_client(sentiment_task, tmp_path, model)
    pieces = [p for p in stream_text(client, "free", "capital of Italy?") if p]
    assert model.calls[-1]["streamed"] and len(pieces) == len(answer.split())  # one chunk per word, as generated
    whole = chat(client, "capital of Italy?", model="free").json()["choices"][0]["message"]["content"]
    assert "".join(pieces) == whole == answer and not model.calls[-1]["streamed"]


def test_a_label_is_never_streamed_raw(sentiment_task, tmp_path):
    """A label task maps the model's free text onto a label after it answers: the stream sends the label."""
    from fastapi.testclient import TestClient

    from ladder.rungs import get_rung
    from ladder.saved import load, save_program
    from ladder.task import load_task

    model = DummyModel(default="I think it is positive", streams=True, scores_choices=False)
    folder = save_program(get_rung("zero-shot")(load_task(sentiment_task), model, {}), tmp_path / "lab")
    client = TestClient(create_app(Served(program=load(folder, model=model), name="lab")))
    assert [p for p in stream_text(client, "lab", "fine") if p] == ["positive"] and not model.calls[-1]["streamed"]


def test_a_client_that_leaves_stops_the_generation(sentiment_task, tmp_path, live):
    """The worker is freed at the model's next token once the client has gone, not at the end of the answer."""
    import threading
    import time

    import httpx

    from ladder.models.base import Completion, Model
    from ladder.rungs import get_rung
    from ladder.saved import load, save_program
    from ladder.task import load_task

    class Slow(Model):
        streams, sent, finished = True, 0, threading.Event()

        def complete(self, messages, *, on_text=None, **kw):
            try:
                for _ in range(400):
                    time.sleep(0.01)
                    on_text and on_text(" word")
                    self.sent += 1
            finally:
                self.finished.set()
            return Completion("word " * 400)

    task = load_task(sentiment_task)
    task.labels = None
    model = Slow()
    folder = save_program(get_rung("zero-shot")(task, model, {}), tmp_path / "slow")
    url = live(Served(program=load(folder, model=model), name="slow"))
    with httpx.stream("POST", url + "/v1/chat/completions", timeout=10, json={
            "model": "slow", "stream": True, "messages": [{"role": "user", "content": "go"}]}) as r:
        lines = r.iter_lines()
        assert [next(lines) for _ in range(6)][-2].startswith("data: ")  # role chunk, then streamed words
    assert model.finished.wait(10) and model.sent < 400


def test_ladder_serve_is_a_streaming_backend_for_ladder(sentiment_task, tmp_path, live):
    """A program served by one ladder is a model (openai/<name>) for another, streamed piece by piece."""
    from ladder.models.openai_http import OpenAIModel
    from ladder.rungs import get_rung
    from ladder.saved import load, save_program
    from ladder.task import load_task

    task = load_task(sentiment_task)
    task.labels = None
    answer = "Rome is the capital of Italy."
    model = DummyModel(default=answer, streams=True)
    folder = save_program(get_rung("zero-shot")(task, model, {}), tmp_path / "free")
    url = live(Served(program=load(folder, model=model), name="free"))
    got = []
    out = OpenAIModel("free", base_url=url + "/v1", timeout=10).complete([{"role": "user", "content": "?"}],
                                                                        on_text=got.append)
    assert out.text == answer and "".join(got) == answer and len(got) == len(answer.split())
    assert model.calls[-1]["streamed"] and out.usage.tokens_in > 0


def test_a_crash_mid_stream_ends_in_an_error_event_not_a_dropped_connection(sentiment_task, tmp_path):
    from ladder.models.base import Model

    class Breaks(Model):
        streams = True

        def complete(self, messages, *, on_text=None, **kw):
            on_text(" partial")
            raise RuntimeError("decode failed")

    client = free_text_client(sentiment_task, tmp_path, Breaks())
    with client.stream("POST", "/v1/chat/completions", json={
            "model": "free", "stream": True, "messages": [{"role": "user", "content": "go"}]}) as r:
        events = [line[6:] for line in r.iter_lines() if line.startswith("data: ")]
    assert events[-1] == "[DONE]" and json.loads(events[1])["choices"][0]["delta"]["content"] == "partial"
    err = json.loads(events[-2])["error"]
    assert err["type"] == "server_error" and "RuntimeError: decode failed" in err["message"]

"""The OpenAI-compatible backend never hangs and never crashes on a bad answer: each case is a real
server on loopback that stalls, answers garbage or fails, and the call ends in a ModelError naming the URL."""
import json
import threading

import pytest

from ladder.errors import InputError, LadderError
from ladder.models.base import ModelError
from ladder.models.openai_http import OpenAIModel, default_timeout, parse_completion
from tests.reliability.http_doubles import answer, raw_server, silent

HELLO = [{"role": "user", "content": "hi"}]
pytestmark = pytest.mark.timeout(30)  # a hang fails the test instead of holding the suite


def test_a_server_that_accepts_and_never_answers_ends_in_the_deadline_naming_the_url():
    hold = threading.Event()
    with raw_server(silent(hold)) as url:
        m = OpenAIModel("m", base_url=url, timeout=0.5)
        with pytest.raises(ModelError, match=r"did not answer within 0.5 s") as e:
            m.complete(HELLO)
        hold.set()
    assert f"{url}/chat/completions" in str(e.value)


def test_a_server_that_trickles_bytes_is_cut_off():
    hold = threading.Event()

    def trickle(conn):
        from tests.reliability.http_doubles import read_request

        read_request(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n")
        while not hold.wait(0.1):
            conn.sendall(b" ")

    with raw_server(trickle) as url:
        with pytest.raises(ModelError, match="did not answer within"):
            OpenAIModel("m", base_url=url, timeout=0.6).complete(HELLO)
        hold.set()


@pytest.mark.parametrize("body, why", [
    (b"<html>hello</html>", "not JSON"),
    (b'{"id": 1}', "without choices"),
    (b'{"choices": []}', "without choices"),
    (b'{"choices": [{"message": "x"}]}', "without choices"),
    (b'[1, 2]', "without choices"),
    (b'{"choices": [{"message": {"content": 5}}]}', "not text"),
    (b"\xff\xfe", "not JSON"),
])
def test_a_200_that_is_not_a_chat_completion_is_a_model_error_naming_the_url(body, why):
    with raw_server(answer(200, body)) as url:
        with pytest.raises(ModelError, match=why) as e:
            OpenAIModel("m", base_url=url, timeout=5).complete(HELLO)
    assert f"{url}/chat/completions" in str(e.value)


def test_a_good_answer_is_parsed_with_its_usage():
    body = json.dumps({"choices": [{"message": {"content": " positive "}}],
                       "usage": {"prompt_tokens": 7, "completion_tokens": 1}}).encode()
    with raw_server(answer(200, body)) as url:
        out = OpenAIModel("m", base_url=url, timeout=5).complete(HELLO)
    assert out.text == "positive" and out.usage.tokens_in == 7 and out.usage.tokens_out == 1


def test_retries_are_counted_inside_the_deadline():
    calls = []

    def busy(conn):
        from tests.reliability.http_doubles import read_request

        while read_request(conn):
            calls.append(1)
            conn.sendall(b"HTTP/1.1 503 X\r\nContent-Length: 4\r\n\r\nbusy")

    with raw_server(busy) as url:
        # backoff 0.5 s, then 1 s would pass the 1.2 s deadline: two attempts, then the 503 is reported
        with pytest.raises(ModelError, match="answered 503"):
            OpenAIModel("m", base_url=url, timeout=1.2).complete(HELLO)
    assert len(calls) == 2


def test_nothing_listening_says_cannot_reach():
    with raw_server(answer(200, b"{}")) as url:
        pass  # closed: the port now refuses
    with pytest.raises(ModelError, match="cannot reach"):
        OpenAIModel("m", base_url=url, timeout=2, retries=0).complete(HELLO)


@pytest.mark.parametrize("raw", ["abc", "0", "-3", "inf", "nan"])
def test_a_bad_ladder_timeout_is_an_input_error_naming_the_variable(monkeypatch, raw):
    monkeypatch.setenv("LADDER_TIMEOUT", raw)
    with pytest.raises(InputError, match="LADDER_TIMEOUT"):
        default_timeout()


def test_ladder_timeout_sets_the_default(monkeypatch):
    monkeypatch.setenv("LADDER_TIMEOUT", "2.5")
    assert OpenAIModel("m", base_url="http://127.0.0.1:9/v1").timeout == 2.5
    monkeypatch.delenv("LADDER_TIMEOUT")
    assert OpenAIModel("m", base_url="http://127.0.0.1:9/v1").timeout == 60


def test_a_base_url_that_is_not_http_is_refused():
    with pytest.raises(LadderError, match="--base-url"):
        OpenAIModel("m", base_url="localhost:8000/v1")


def test_parse_completion_names_the_status():
    with pytest.raises(ModelError, match="u answered 404: nope"):
        parse_completion(404, b"nope", "u")


def test_the_progress_bar_says_when_no_example_has_finished_for_a_while(capsys, monkeypatch):
    import ladder.cli.common as common

    monkeypatch.setattr(common, "STALL_SECONDS", 0)
    with common.progress_bar(False) as start:
        start("zero-shot", "openai/m", 3)(1, 3)
    assert "waiting 0 s" in capsys.readouterr().err
    monkeypatch.setattr(common, "STALL_SECONDS", 3600)
    with common.progress_bar(False) as start:
        start("zero-shot", "openai/m", 3)(1, 3)
    assert "waiting" not in capsys.readouterr().err


@pytest.mark.parametrize("body", [
    b'{"error": {"message": "This model\'s maximum context length is 2048 tokens", "code": "context_length_exceeded"}}',
    b'{"error": {"message": "the request exceeds the available context size, try increasing it"}}',
    b'Requested tokens (250000) exceed context window of 2048',
])
def test_a_server_refusing_an_over_long_input_is_prompt_too_long(body):
    from ladder.models.base import PromptTooLong

    with raw_server(answer(400, body)) as url:
        with pytest.raises(PromptTooLong, match="longer than the model's context"):
            OpenAIModel("m", base_url=url, timeout=5).complete(HELLO)


def test_a_400_for_another_reason_stays_a_model_error():
    from ladder.models.base import PromptTooLong

    with raw_server(answer(400, b'{"error": "unknown model m"}')) as url:
        with pytest.raises(ModelError, match="answered 400") as e:
            OpenAIModel("m", base_url=url, timeout=5).complete(HELLO)
    assert not isinstance(e.value, PromptTooLong)


def sse(*events: bytes, close: bool = True):
    """A server answering 200 text/event-stream with these raw lines (then closing the connection)."""
    def handle(conn):
        from tests.reliability.http_doubles import read_request

        read_request(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n")
        for e in events:
            conn.sendall(e + b"\n\n")
        conn.close()
    return handle


def delta(text: str) -> bytes:
    return b"data: " + json.dumps({"choices": [{"index": 0, "delta": {"content": text}, "finish_reason": None}]}).encode()


def test_a_stream_delivers_each_piece_and_its_usage():
    done = b"data: " + json.dumps({"choices": [], "usage": {"prompt_tokens": 7, "completion_tokens": 2}}).encode()
    got = []
    with raw_server(sse(delta(" Hello"), delta(" world"), done, b"data: [DONE]")) as url:
        out = OpenAIModel("m", base_url=url, timeout=5).complete(HELLO, on_text=got.append)
    assert got == [" Hello", " world"] and out.text == "Hello world"
    assert (out.usage.tokens_in, out.usage.tokens_out) == (7, 2)


@pytest.mark.parametrize("events, why", [
    ([delta("Hel"), b"data: {oops"], "not JSON"),
    ([b'data: {"error": {"message": "overloaded"}}'], "streamed an error"),
    ([delta("Hel")], "the stream ended before the answer did"),  # the connection closed mid-answer
    ([b'data: {"choices": {"0": {"delta": {"content": "x"}}}}'], "the stream ended"),  # choices not a list
])
def test_a_broken_stream_is_a_model_error_and_not_retried(events, why):
    calls = []

    def handle(conn):
        calls.append(1)
        sse(*events)(conn)

    with raw_server(handle) as url:
        with pytest.raises(ModelError, match=why) as e:
            OpenAIModel("m", base_url=url, timeout=5).complete(HELLO, on_text=lambda p: None)
    assert f"{url}/chat/completions" in str(e.value) and len(calls) == 1

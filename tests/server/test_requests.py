"""`ladder serve` over a real socket: /predict and /health as before, and the bad-request cases of issue 15
(wrong `fields` shapes, a lying or malformed Content-Length, a 10 MB body) answered with JSON, never a hang."""
import json
import socket

import httpx
import pytest

from ladder.server.app import Limits, Served


@pytest.fixture
def url(live, program):
    return live(Served(program=program, name="best", limits=Limits(max_body=1 << 20, read_timeout=1.0)))


def raw(url: str, data: bytes, wait: float = 10.0) -> bytes:
    """Send raw bytes, return everything the server answers before closing (or `wait` seconds)."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=wait) as s:
        s.sendall(data)
        out = b""
        try:
            while chunk := s.recv(65536):
                out += chunk
                if b"\r\n\r\n" in out and b"}" in out:
                    break
        except socket.timeout:
            pass
    return out


def test_predict_returns_a_label_and_usage(url):
    r = httpx.post(f"{url}/predict", json={"fields": {"text": "I love it"}})
    assert r.status_code == 200 and r.json()["output"] == "positive" and r.json()["usage"]["tokens_in"] > 0
    health = httpx.get(f"{url}/health").json()
    assert health["status"] == "ok" and health["rung"] == "few-shot" and health["fields"] == ["text"]


@pytest.mark.parametrize("body, needle", [
    (b"not json", "not valid JSON"),
    (json.dumps({"fields": {}}).encode(), "missing field 'text'"),
    (json.dumps({"text": "x"}).encode(), '{"fields": {text}}'),
    (json.dumps({"fields": "some text"}).encode(), "fields must be an object"),
    (json.dumps({"fields": ["text"]}).encode(), "fields must be an object"),
    (json.dumps({"fields": {"text": ["a"]}}).encode(), "field 'text' must be text"),
    (json.dumps(["fields"]).encode(), "must be a JSON object"),
])
def test_bad_requests_get_a_json_400(url, body, needle):
    r = httpx.post(f"{url}/predict", content=body)
    assert r.status_code == 400 and needle in r.json()["error"]["message"]
    assert httpx.get(f"{url}/health").status_code == 200  # the server is still there


def test_content_length_larger_than_the_body_times_out_with_408(url, program):
    calls = len(program.model.calls)
    head = raw(url, b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 500\r\n\r\n"
                    b'{"fields": {"text": "x"}}')
    assert head.startswith(b"HTTP/1.1 408") and b"body_timeout" in head
    # (a hung worker would send nothing: raw() gives up after 10 s and the status check fails)
    assert len(program.model.calls) == calls


def test_a_stalled_body_does_not_block_other_requests(url):
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port))) as stalled:
        stalled.sendall(b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
        r = httpx.post(f"{url}/predict", json={"fields": {"text": "I love it"}}, timeout=5)
        assert r.status_code == 200


@pytest.mark.parametrize("length", [b"abc", b"-5"])
def test_malformed_content_length_is_a_400(url, length):
    head = raw(url, b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Length: " + length + b"\r\n\r\n{}")
    assert head.startswith(b"HTTP/1.1 400")


def test_ten_megabyte_body_gets_413_without_touching_the_model(url, program):
    calls = len(program.model.calls)
    body = json.dumps({"fields": {"text": "x" * (10 << 20)}}).encode()
    r = httpx.post(f"{url}/predict", content=body, headers={"Content-Type": "application/json"}, timeout=20)
    assert r.status_code == 413 and r.json()["error"]["code"] == "body_too_large"
    assert len(program.model.calls) == calls
    # without a Content-Length (chunked), the limit holds as the body arrives
    r = httpx.post(f"{url}/predict", content=iter([body[i:i + (1 << 20)] for i in range(0, len(body), 1 << 20)]),
                   timeout=20)
    assert r.status_code == 413
    assert httpx.post(f"{url}/predict", json={"fields": {"text": "I love it"}}).status_code == 200


def test_serve_finds_the_program_in_a_run_or_row_folder(saved_dir, tmp_path):
    import shutil

    from ladder.cli.serve import _program_folder

    row = tmp_path / "runs" / "r1" / "rows" / "few-shot--dummy"
    shutil.copytree(saved_dir, row / "program")
    shutil.copytree(saved_dir, tmp_path / "runs" / "r1" / "best")
    assert _program_folder(row) == row / "program"
    assert _program_folder(tmp_path / "runs" / "r1") == tmp_path / "runs" / "r1" / "best"
    assert _program_folder(saved_dir) == saved_dir

import json
import threading
from http.server import ThreadingHTTPServer

import httpx
import pytest

from ladder.rungs.zero_shot import compile as zero_shot
from ladder.server import make_handler
from ladder.task import load_task
from ladder.testing import DummyModel


@pytest.fixture
def url(sentiment_task):
    program = zero_shot(load_task(sentiment_task), DummyModel(default="positive"))
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(program))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def test_predict_returns_a_label_and_usage(url):
    r = httpx.post(f"{url}/predict", json={"fields": {"text": "lovely"}})
    assert r.status_code == 200 and r.json()["output"] == "positive" and r.json()["usage"]["tokens_in"] > 0
    assert httpx.get(f"{url}/health").json()["rung"] == "zero-shot"


@pytest.mark.parametrize("body, needle", [(b"not json", "expected JSON"), (json.dumps({"fields": {}}).encode(), "text")])
def test_bad_requests_get_a_json_400(url, body, needle):
    r = httpx.post(f"{url}/predict", content=body)
    assert r.status_code == 400 and needle in r.json()["error"]

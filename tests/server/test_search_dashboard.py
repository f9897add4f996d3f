"""/v1/search, /v1/ask and the dashboard's JSON over a small index and a run folder (TestClient, DummyModel)."""
import pytest

from ladder.server.app import Served, create_app
from ladder.testing import DummyModel


@pytest.fixture
def client(small_index, runs_dir):
    from fastapi.testclient import TestClient

    model = DummyModel(default="Michelangelo painted the ceiling of the Sistine Chapel [1].")
    return TestClient(create_app(Served(index=small_index, ask_model=lambda: model, runs_dir=runs_dir)))


def test_search_returns_ranked_passages(client):
    r = client.post("/v1/search", json={"query": "who painted the Sistine Chapel ceiling", "k": 2, "method": "bm25"})
    data = r.json()["data"]
    assert r.status_code == 200 and data[0]["doc_id"] == "sistine" and data[0]["n"] == 1 and len(data) <= 2
    assert data[0]["score"] >= data[-1]["score"]


def test_ask_answers_with_checked_citations(client):
    r = client.post("/v1/ask", json={"question": "Who painted the Sistine Chapel ceiling?", "k": 2, "method": "bm25"})
    body = r.json()
    assert r.status_code == 200 and body["known"] and body["cited"] == [1]
    assert body["sources"][0]["doc_id"] == "sistine" and "[1]" in body["answer"]


@pytest.mark.parametrize("path, body, param", [
    ("/v1/search", {"query": ""}, "query"), ("/v1/search", {"query": "x", "k": 0}, "k"),
    ("/v1/search", {"query": "x", "k": -5}, "k"), ("/v1/search", {"query": "x", "method": "magic"}, "method"),
    ("/v1/ask", {"question": 3}, "question"), ("/v1/search", {"query": "x" * 5000}, "query"),
])
def test_bad_search_requests_are_400(client, path, body, param):
    r = client.post(path, json=body)
    assert r.status_code == 400 and r.json()["error"]["param"] == param


def test_no_index_or_no_program_is_a_404(program):
    from fastapi.testclient import TestClient

    client = TestClient(create_app(Served(program=program, name="best")))
    r = client.post("/v1/search", json={"query": "rome"})
    assert r.status_code == 404 and "--index" in r.json()["error"]["message"]
    bare = TestClient(create_app(Served(index=None)))
    r = bare.post("/v1/chat/completions", json={"model": "x", "messages": [{"role": "user", "content": "hi"}]})
    assert r.status_code == 404 and "PROGRAM_DIR" in r.json()["error"]["message"]


def test_dashboard_page_and_assets_are_served_locally(client):
    page = client.get("/")
    assert page.status_code == 200 and "<script src=\"/static/app.js\">" in page.text
    assert "http" not in page.text.replace("http-equiv", "")  # no CDN
    assert client.get("/static/app.js").status_code == 200 and client.get("/static/style.css").status_code == 200
    assert client.get("/static/../app.py").status_code == 404


def test_runs_listing_detail_and_diff(client):
    runs = client.get("/api/runs").json()
    assert [r["id"] for r in runs["runs"]] == ["20261201T030000Z-sentiment-abcdef12"] and runs["index"] is True
    run_id = runs["runs"][0]["id"]
    run = client.get(f"/api/runs/{run_id}").json()
    assert [r["rung"] for r in run["rows"]] == ["zero-shot", "few-shot"] and "predictions" not in run
    assert run["plots"]["quality"].startswith("<svg") and "few-shot / smollm2-135m" in run["plots"]["quality"]
    assert "<polyline" in run["plots"]["loss"] and "Training loss" in run["plots"]["loss"]
    diff = client.get(f"/api/runs/{run_id}/diff", params={"a": 0, "b": 1}).json()
    assert diff["compared"] == 4 and diff["disagree"] == 1
    assert diff["examples"] == [{"idx": 0, "input": "An absolute joy", "expected": "positive", "a": "negative",
                                 "a_score": 0.0, "b": "positive", "b_score": 1.0}]
    assert len(client.get(f"/api/runs/{run_id}/diff", params={"a": 0, "b": 1, "all": True}).json()["examples"]) == 4
    assert client.get(f"/api/runs/{run_id}/diff", params={"a": 0, "b": 9}).status_code == 400
    assert client.get("/api/runs/..%2F..%2Fetc").status_code == 404
    assert client.get("/api/runs/nope").status_code == 404


def aspen_judge():
    """A pointwise reranker whose model finds only the Aspen passage relevant."""
    from ladder.retrieval.rerank import PointwiseLLM

    return PointwiseLLM(DummyModel(name="judge", respond=lambda m: "yes" if "Aspen" in m[-1]["content"] else "no"))


def test_search_and_ask_rerank_with_the_servers_reranker_unless_told_not_to(small_index):
    from fastapi.testclient import TestClient

    model = DummyModel(default="It is in Colorado [1].")
    client = TestClient(create_app(Served(index=small_index, reranker=aspen_judge(), ask_model=lambda: model)))
    q = {"query": "capital city of Italy or a town", "k": 2, "method": "bm25", "candidates": 4}
    plain = client.post("/v1/search", json={**q, "rerank": False}).json()
    assert plain["reranker"] is None and plain["data"][0]["doc_id"] == "rome"
    reranked = client.post("/v1/search", json=q).json()
    assert reranked["reranker"] == "pointwise:judge" and [d["doc_id"] for d in reranked["data"]][0] == "aspen"
    assert len(reranked["data"]) == 2
    ask = client.post("/v1/ask", json={"question": "capital city of Italy or a town", "k": 1, "method": "bm25",
                                       "candidates": 4}).json()
    assert ask["reranker"] == "pointwise:judge" and ask["sources"][0]["doc_id"] == "aspen"


def test_rerank_without_a_reranker_is_a_400(client):
    r = client.post("/v1/search", json={"query": "rome", "rerank": True})
    assert r.status_code == 400 and r.json()["error"]["param"] == "rerank" and "--rerank" in r.json()["error"]["message"]
    r = client.post("/v1/search", json={"query": "rome", "candidates": 1000})
    assert r.status_code == 400 and r.json()["error"]["param"] == "candidates"


def test_serve_refuses_adapted_without_an_index_or_a_bad_reranker(tmp_path):
    from ladder.testing import run_cli

    r = run_cli("serve", str(tmp_path), "--adapted")
    assert r.returncode == 2 and "add --index DIR" in r.stderr
    r = run_cli("serve", str(tmp_path), "--rerank", "cross-encoder")  # a saved program keeps its own options
    assert r.returncode == 2 and "--rerank: rung options shape a task.toml" in r.stderr
    r = run_cli("serve", "--index", str(tmp_path), "--rerank", "magic")
    assert r.returncode == 2 and "unknown reranker 'magic'" in r.stderr and r.stderr.count("\n") == 1

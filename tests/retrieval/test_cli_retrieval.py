"""`ladder index | search | eval-retrieval` end to end on data the test writes (real MiniLM, small)."""
import json
import sys

import pytest
from click.testing import CliRunner

from ladder.cli import retrieval as cli_retrieval
from tests.retrieval.corpus_fixture import write_beir, write_corpus

pytest.importorskip("sentence_transformers")


def run_main(monkeypatch, capsys, *args):
    """Through ladder.cli.main, so errors take the real path: one line on stderr, exit code 2."""
    from ladder.cli import main

    monkeypatch.setattr(sys, "argv", ["ladder", *args])
    with pytest.raises(SystemExit) as e:
        main()
    out = capsys.readouterr()
    return e.value.code, out.out, out.err


def test_commands_are_the_registered_attributes():
    from ladder.cli import COMMANDS

    for name in ("index", "search", "eval-retrieval"):
        module, attr = COMMANDS[name].split(":")
        assert module == "ladder.cli.retrieval" and hasattr(cli_retrieval, attr)
    assert "Example" in cli_retrieval.search.help and "Example" in cli_retrieval.index.help


@pytest.mark.integration
def test_index_then_search_json(tmp_path):
    corpus = write_corpus(tmp_path / "corpus.jsonl")
    r = CliRunner().invoke(cli_retrieval.index, [str(corpus), "--out", str(tmp_path / "idx"), "--json"])
    assert r.exit_code == 0, r.output
    info = json.loads(r.stdout)
    assert info["documents"] == 8 and info["passages"] == 8
    r = CliRunner().invoke(cli_retrieval.search, [str(tmp_path / "idx"), "who painted the sistine chapel", "-k", "2",
                                                  "--method", "bm25", "--json"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert [h["rank"] for h in doc["hits"]] == [1, 2] and doc["hits"][0]["doc_id"] == "sistine"
    r = CliRunner().invoke(cli_retrieval.search, [str(tmp_path / "idx"), "first moon landing"])
    assert r.exit_code == 0 and "Apollo 11" in r.output


@pytest.mark.integration
def test_default_out_is_named_under_ladder_home(tmp_path, ladder_home):
    corpus = write_corpus(tmp_path / "mycorpus.jsonl")
    r = CliRunner().invoke(cli_retrieval.index, [str(corpus), "--chunking", "none", "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["index"] == str(ladder_home / "indexes" / "mycorpus")
    r = CliRunner().invoke(cli_retrieval.search, ["mycorpus", "jazz", "--json"])
    assert json.loads(r.stdout)["hits"][0]["doc_id"] == "jazz"


@pytest.mark.integration
def test_eval_retrieval_json(tmp_path):
    beir = write_beir(tmp_path / "beir")
    r = CliRunner().invoke(cli_retrieval.eval_retrieval, [str(beir), "--method", "bm25,dense,hybrid", "--json"])
    assert r.exit_code == 0, r.output
    rep = json.loads(r.stdout)
    assert [x["method"] for x in rep["results"]] == ["bm25", "dense", "hybrid"]
    for x in rep["results"]:
        assert x["n_queries"] == 4 and 0 <= x["ndcg@10"]["low"] <= x["ndcg@10"]["mean"] <= x["ndcg@10"]["high"] <= 1
        assert x["recall@100"]["mean"] == 1.0  # 8 documents, all ranked
        assert x["latency_ms"]["p50"] > 0
    dense = rep["results"][1]
    assert dense["mrr@10"]["mean"] == 1.0  # each paraphrased query finds its document first


@pytest.mark.parametrize("args,needle", [
    (["search", "{tmp}/nothing", "q"], "no search index here"),
    (["search", "wikipedia", "q"], "no index named 'wikipedia'"),
    (["index", "{tmp}/missing.jsonl"], "no such corpus"),
    (["index", "{tmp}/bad.jsonl", "--out", "{tmp}/o"], "bad.jsonl:2: not valid JSON"),
    (["search", "{tmp}/old", "q"], "index format version 0, this ladder reads version 1"),
    (["eval-retrieval", "{tmp}/beir", "--split", "dev"], "no qrels for split 'dev'; choose one of: test"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path, monkeypatch, capsys, args, needle):
    (tmp_path / "bad.jsonl").write_text('{"id": 1, "text": "ok"}\n{oops\n')
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "manifest.json").write_text(json.dumps({"format": "ladder-index", "version": 0}))
    write_beir(tmp_path / "beir")
    code, out, err = run_main(monkeypatch, capsys, *[a.format(tmp=tmp_path) for a in args])
    assert code == 2
    assert needle in err and err.count("\n") == 1 and "Traceback" not in err
    assert not (tmp_path / "o").exists()


@pytest.mark.integration
def test_search_rerank_unknown_name_is_clear(tmp_path, monkeypatch, capsys):
    corpus = write_corpus(tmp_path / "c.jsonl")
    CliRunner().invoke(cli_retrieval.index, [str(corpus), "--out", str(tmp_path / "idx"), "--json"])
    code, _, err = run_main(monkeypatch, capsys, "search", str(tmp_path / "idx"), "q", "--rerank", "nonsense")
    assert code == 2 and "unknown reranker 'nonsense'" in err

"""A damaged index is never trusted: every file's SHA-256 is in the manifest and checked at load; a damaged
file is a LadderError naming it (--no-verify skips the hashes, and the readers still refuse what they
cannot parse); a killed build's temp folders are cleaned at the next build. Built with DummyEmbedder."""
import json
import subprocess
import sys

import numpy as np
import pytest

from ladder.errors import LadderError
from ladder.retrieval.chunk import Chunking
from ladder.retrieval.index import Index, build_index, open_index
from ladder.testing import DummyEmbedder
from tests.retrieval.corpus_fixture import DOCS


@pytest.fixture
def index_dir(tmp_path):
    build_index(DOCS, tmp_path / "idx", chunking=Chunking("paragraph", max_words=12), embedder=DummyEmbedder())
    return tmp_path / "idx"


def test_the_manifest_lists_every_file_with_its_sha256(index_dir):
    m = json.loads((index_dir / "manifest.json").read_text())
    assert m["kind"] == "ladder.index"
    assert {"passages.jsonl", "dense.npy", "bm25/ladder_bm25.json"} <= set(m["files"])
    assert all(len(v["sha256"]) == 64 for v in m["files"].values())
    assert len(Index.load(index_dir, embedder=DummyEmbedder())) > 0


def edit_passage(index_dir):
    p = index_dir / "passages.jsonl"
    p.write_text(p.read_text().replace("Everest", "Evergreen", 1))


def edit_vectors(index_dir):
    v = np.load(index_dir / "dense.npy")
    v[0, 0] += 0.5
    np.save(index_dir / "dense.npy", v)


def break_bm25_json(index_dir):
    (index_dir / "bm25" / "vocab.index.json").write_text("{not json")


def add_a_file(index_dir):
    (index_dir / "bm25" / "extra.npy").write_bytes(b"x")


@pytest.mark.parametrize("damage, named", [
    (edit_passage, "'passages.jsonl' changed"), (edit_vectors, "'dense.npy' changed"),
    (break_bm25_json, "'bm25/vocab.index.json' changed"), (add_a_file, "'bm25/extra.npy' is not listed"),
])
def test_a_changed_file_is_named_and_the_index_refused(index_dir, damage, named):
    damage(index_dir)
    with pytest.raises(LadderError, match=named) as e:
        Index.load(index_dir)
    assert "--no-verify" in str(e.value)
    with pytest.raises(LadderError, match=named):
        open_index(index_dir)


def test_no_verify_loads_an_altered_but_readable_index(index_dir):
    edit_passage(index_dir)
    idx = Index.load(index_dir, embedder=DummyEmbedder(), verify=False)
    assert any("Evergreen" in p.text + p.title for p in idx.passages)


@pytest.mark.parametrize("damage, message", [
    (break_bm25_json, "damaged BM25 files"),
    (lambda d: (d / "bm25" / "ladder_bm25.json").write_text("[1, 2"), "ladder_bm25.json: damaged BM25 settings"),
    (lambda d: (d / "bm25" / "ladder_bm25.json").write_text('{"stemmer": 5}'), "damaged BM25 settings"),
    (lambda d: (d / "bm25" / "ladder_bm25.json").write_text(
        (d / "bm25" / "ladder_bm25.json").read_text().replace('"en"', '"dn"')), "stopwords 'dn'"),  # found by fuzzing
    (lambda d: (d / "passages.jsonl").write_text('{"doc_id": 1}\n'), r"passages.jsonl:1: damaged passage"),
    (lambda d: (d / "passages.jsonl").write_text("[" * 50000 + "\n"), r"passages.jsonl:1: damaged passage"),
    (lambda d: (d / "dense.npy").write_bytes(b"\x93NUMPY garbage"), "dense.npy: missing or damaged"),
    (lambda d: (d / "dense.npy").write_bytes((d / "dense.npy").read_bytes()[:30] + b"\x00" * 12
                                             + (d / "dense.npy").read_bytes()[42:]), "dense.npy: missing or damaged"),
    (lambda d: (d / "manifest.json").write_bytes(b"\xfb" + (d / "manifest.json").read_bytes()[1:]),
     "unreadable index manifest"),
    (lambda d: (d / "manifest.json").write_text("[1, 2]"), "not a ladder index manifest"),
    (lambda d: np.save(d / "dense.npy", np.zeros((3,), dtype=np.float64)), "dense.npy: holds float64"),
    (lambda d: (d / "bm25" / "data.csc.index.npy").unlink(), "damaged BM25 files"),
    (lambda d: (d / "bm25" / "vocab.index.json").write_text(  # found by bench/fuzz.py: failed at search time
        json.dumps({w: i + 1000 for w, i in json.loads((d / "bm25" / "vocab.index.json").read_text()).items()})),
     "BM25 arrays do not match"),
    (lambda d: (d / "bm25" / "params.index.json").write_text(  # found by bench/fuzz.py: failed at search time
        (d / "bm25" / "params.index.json").read_text().replace("float32", "gloat32")), "damaged BM25 files"),
])
def test_without_verification_damage_is_still_a_clear_error(index_dir, damage, message):
    damage(index_dir)
    with pytest.raises(LadderError, match=message):
        Index.load(index_dir, verify=False)


def test_search_k_below_one_is_an_input_error(index_dir):
    idx = Index.load(index_dir, embedder=DummyEmbedder())
    for k in (0, -5):
        with pytest.raises(LadderError, match="k: must be a whole number of results, at least 1"):
            idx.search("mountain", k=k, method="bm25")


@pytest.mark.integration  # starts a process (killed mid-build)
def test_a_killed_build_leaves_a_tmp_folder_that_the_next_build_removes(tmp_path):
    script = (
        "import os, sys\n"
        "from ladder.retrieval.index import build_index\n"
        "from ladder.testing import DummyEmbedder\n"
        "from tests.retrieval.corpus_fixture import DOCS\n"
        "def docs():\n"
        "    yield from DOCS\n"
        "import ladder.retrieval.index as ix\n"
        "real = ix.BM25.save\n"
        "def die(self, d):\n"
        "    real(self, d)\n"
        "    os._exit(9)\n"  # killed mid-build: no cleanup runs
        "ix.BM25.save = die\n"
        f"build_index(docs(), {str(tmp_path / 'idx')!r}, embedder=DummyEmbedder())\n"
    )
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert r.returncode == 9, r.stderr
    left = [p.name for p in tmp_path.iterdir()]
    assert not (tmp_path / "idx").exists() and any(n.startswith(".idx.tmp-") for n in left)
    build_index(DOCS, tmp_path / "idx", embedder=DummyEmbedder())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["idx"]


def test_ladder_search_on_a_damaged_index_is_one_line_exit_2(index_dir, capsys, monkeypatch):
    from tests.reliability.test_cli_input import ladder

    monkeypatch.setenv("LADDER_NO_VERIFY", "")  # restored after the test (--no-verify sets it)
    code, out, _ = ladder(capsys, monkeypatch, "search", index_dir, "mountain", "--method", "bm25", "--json")
    assert code == 0 and json.loads(out)
    break_bm25_json(index_dir)
    code, _, err = ladder(capsys, monkeypatch, "search", index_dir, "mountain", "--method", "bm25")
    assert code == 2 and "'bm25/vocab.index.json' changed" in err and len(err.strip().splitlines()) == 1
    code, _, err = ladder(capsys, monkeypatch, "search", index_dir, "mountain", "--method", "bm25", "--no-verify")
    assert code == 2 and "damaged BM25 files" in err and len(err.strip().splitlines()) == 1

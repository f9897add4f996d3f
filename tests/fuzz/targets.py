"""Fuzz targets shared by the property tests (tests/fuzz/test_properties.py, fast) and bench/fuzz.py (long):
for each place outside input enters ladder, a hypothesis strategy and a check that any input gives a result
or a LadderError (the one error type), never another exception, and leaves no partial file behind."""
from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable

from hypothesis import strategies as st

from ladder.errors import LadderError

TEXT = st.text(st.characters(codec="utf-8"), max_size=40)
KEYS = ["name", "instruction", "input", "output", "labels", "metric", "target", "train", "test", "dev",
        "prices", "requests", "max_tokens", "id", "judge", "corpus", "colour"]
JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | TEXT,
                    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(TEXT, kids, max_size=4), max_leaves=12)
TEMPLATE_PIECES = st.sampled_from(["{text}", "{label}", "{", "}", "{{", "}}", "{text.__class__}", "{text[0]}",
                                   "{0}", "{}", "{text!r}", "{text:>5}", "{text:{label}}", "{ text }", "{tëxt}",
                                   "Q: ", "\n", "A:", "%s", "{missing}"])


def toml_value(v: Any) -> str:
    """A TOML literal for a JSON-ish value (strings as JSON-escaped basic strings, which TOML reads)."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v).replace("inf", "inf").lower() if isinstance(v, float) else str(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v if x is not None) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{json.dumps(k)} = {toml_value(x)}" for k, x in v.items() if x is not None) + "}"
    return '""'


# -- task files -------------------------------------------------------------------------------------
SETTING = st.one_of(
    TEXT, st.integers(-10, 10**6), st.floats(allow_nan=True), st.booleans(),
    st.lists(st.sampled_from(["a", "b", "positive", "a", 1, "1", " "]), max_size=4),
    st.sampled_from(["{text}", "{text.__class__}", "accuracy", "math:sqrt", "math:pi", "ladder.metrics:token_f1",
                     "macro_f1", "judge", "auto", "train.jsonl", "test.jsonl", "label", "nope:x", ":", "os:getcwd"]),
    st.dictionaries(st.sampled_from(["cpu_hour", "gpu_hour", "models", "model", "rubric", "x"]),
                    st.floats(allow_nan=True) | st.integers() | TEXT, max_size=3),
)
ROW = st.one_of(
    st.fixed_dictionaries({"text": TEXT, "label": st.sampled_from(["a", "b", "positive"])}),
    st.fixed_dictionaries({"text": JSON, "label": JSON}),
    JSON,
)


@st.composite
def task_files(draw) -> tuple[str, list[bytes], list[bytes]]:
    """(task.toml text, train.jsonl lines, test.jsonl lines): mostly valid, with random damage."""
    base = {"instruction": "Classify.", "output": "label", "train": "train.jsonl", "test": "test.jsonl"}
    mutate = draw(st.integers(0, 3))  # 0: a valid task; more: more damage
    for k in draw(st.lists(st.sampled_from(KEYS), max_size=mutate)):
        base[k] = draw(SETTING)
    for k in draw(st.lists(st.sampled_from(list(base)), max_size=mutate // 2)):
        base.pop(k, None)
    toml = "".join(f"{k} = {toml_value(v)}\n" for k, v in base.items() if v is not None)
    if mutate == 3 and draw(st.booleans()):
        toml = draw(st.sampled_from(["", "[[", "x = ", "\x00", "instruction = 'a\n"])) + toml
    good = st.fixed_dictionaries({"text": TEXT, "label": st.sampled_from(["a", "b", "positive"])})
    line = (good if mutate == 0 else good | ROW).map(lambda r: json.dumps(r).encode())
    if mutate >= 2:
        line = line | st.binary(max_size=30)
    return toml, draw(st.lists(line, max_size=5)), draw(st.lists(line, min_size=mutate == 0, max_size=5))


def check_task_file(case: tuple[str, list[bytes], list[bytes]]) -> str:
    """Write the task and load it: a Task or a LadderError."""
    from ladder.task import load_task

    toml, train, test = case
    with tempfile.TemporaryDirectory() as d:
        (Path(d) / "task.toml").write_text(toml, encoding="utf-8", errors="surrogatepass")
        (Path(d) / "train.jsonl").write_bytes(b"\n".join(train))
        (Path(d) / "test.jsonl").write_bytes(b"\n".join(test))
        try:
            task = load_task(Path(d) / "task.toml")
        except LadderError:
            return "error"
        for ex in task.test:  # a loaded task renders every example and samples any limit
            assert isinstance(task.render(ex), str)
        task.test_sample(1)
        return "ok"


# -- JSONL reader -----------------------------------------------------------------------------------
JSONL_BYTES = st.lists(st.one_of(st.binary(max_size=40), JSON.map(lambda v: json.dumps(v).encode()),
                                 st.sampled_from([b"", b" ", b"\xef\xbb\xbf{}", b"[" * 3000, b"{\"a\": NaN}",
                                                  b"\xff", b"\r", b"1e999999"])), max_size=6).map(b"\n".join)


def check_jsonl(data: bytes) -> str:
    from ladder.task import iter_jsonl

    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "x.jsonl"
        p.write_bytes(data)
        try:
            rows = list(iter_jsonl(p))
        except LadderError as e:
            assert str(p) in str(e), "a JSONL error must name the file"
            return "error"
        assert all(isinstance(n, int) and n >= 1 for n, _ in rows)
        return "ok"


# -- templates --------------------------------------------------------------------------------------
@st.composite
def templates(draw) -> tuple[str, list[dict]]:
    tpl = "".join(draw(st.lists(TEMPLATE_PIECES | TEXT, max_size=6)))
    rows = draw(st.lists(st.dictionaries(st.sampled_from(["text", "label", "missing", "0"]), JSON, max_size=3),
                         min_size=1, max_size=3))
    return tpl, rows


def check_template(case: tuple[str, list[dict]]) -> str:
    from ladder.task import Task

    tpl, rows = case
    for r in rows:
        r.setdefault("label", "a")
    try:
        task = Task("t", "i", tpl, "label", [], rows)
    except LadderError:
        return "error"
    for ex in task.test:
        out = task.render(ex)
        assert isinstance(out, str) and "<class" not in out.replace(str(ex), "")  # never Python internals
    return "ok"


# -- CLI options ------------------------------------------------------------------------------------
OPTION_VALUES = st.one_of(st.integers(-5, 5).map(str), st.floats(allow_nan=True).map(repr),
                          st.sampled_from(["", "0", "-1", "1e9", "nan", "inf", "abc", "/", "/tmp", "0.5", "--json"]),
                          TEXT.filter(lambda s: "\x00" not in s))
CLI_ARGS = st.lists(st.tuples(st.sampled_from(["--limit", "--k", "--target", "--concurrency", "--timeout", "--seed",
                                               "--passages", "--train-minutes", "--train-examples", "--db", "--rung",
                                               "--selector", "-o", "--show", "--calibrate", "--prices", "--bogus"]),
                              OPTION_VALUES), max_size=3)


def check_cli_run(task_file: Path, db: Path, args: list[tuple[str, str]]) -> str:
    """`ladder run TASK --model fuzz-dummy ARGS` in process: exit 0/1/2, and on 2 one line, never a traceback."""
    import contextlib
    import io

    from ladder.cli import main

    argv = ["ladder", "run", str(task_file), "--model", "fuzz-dummy", "--db", str(db), "--json"]
    for opt, val in args:
        argv += [opt, val]
    out, err = io.StringIO(), io.StringIO()
    old, cwd = sys.argv, os.getcwd()
    sys.argv = argv
    os.chdir(db.parent)  # a relative --db or --prices lands in the scratch folder, never in the repo
    code: Any = 0
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            main()
    except SystemExit as e:
        code = e.code
    finally:
        sys.argv = old
        os.chdir(cwd)
        os.environ.pop("LADDER_TIMEOUT", None)  # --timeout sets it for the process
    assert code in (0, 1, 2, None), (code, err.getvalue()[-500:])
    assert "Traceback" not in err.getvalue(), err.getvalue()[-2000:]
    if code == 2:
        assert err.getvalue().strip().count("\n") <= 6, err.getvalue()  # click usage errors print usage too
        return "error"
    return "ok" if code in (0, None) else "errored-examples"


def register_fuzz_model() -> None:
    from ladder.models import MODELS
    from ladder.models.backends import Backend
    from ladder.testing import DummyModel

    if "fuzz-dummy" not in MODELS:
        model = DummyModel(default="positive", name="fuzz-dummy")
        MODELS.register("fuzz-dummy", Backend("fuzz-dummy", lambda s: s == "fuzz-dummy", lambda s, **kw: model,
                                              local=True))


def write_cli_task(folder: Path) -> Path:
    rows = [{"text": t, "label": lab} for t, lab in [("good", "positive"), ("bad", "negative"), ("fine", "positive"),
                                                       ("awful", "negative")]]
    (folder / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (folder / "test.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (folder / "task.toml").write_text('instruction = "Sentiment?"\noutput = "label"\nlabels = ["negative", "positive"]\n'
                                      'train = "train.jsonl"\ntest = "test.jsonl"\n')
    return folder / "task.toml"


# -- index reader -----------------------------------------------------------------------------------
INDEX_FILES = ["passages.jsonl", "dense.npy", "manifest.json", "bm25/ladder_bm25.json", "bm25/vocab.index.json",
               "bm25/params.index.json", "bm25/data.csc.index.npy", "bm25/indices.csc.index.npy",
               "bm25/indptr.csc.index.npy"]
DAMAGE = st.tuples(st.sampled_from(INDEX_FILES), st.sampled_from(["flip", "truncate", "append", "replace", "delete"]),
                   st.integers(0, 10**6), st.binary(min_size=1, max_size=16))


def build_fuzz_index(folder: Path) -> Path:
    from ladder.retrieval.chunk import Chunking
    from ladder.retrieval.index import build_index
    from ladder.testing import DummyEmbedder

    docs = [{"id": str(i), "title": f"Doc {i}", "text": f"word{i} mountain river {i % 3} city{i % 5} " * 3}
            for i in range(12)]
    build_index(docs, folder / "idx", chunking=Chunking("none"), embedder=DummyEmbedder(dim=16))
    return folder / "idx"


def damage(folder: Path, how: tuple[str, str, int, bytes]) -> None:
    name, kind, at, data = how
    p = folder / name
    if kind == "delete":
        p.unlink()
        return
    raw = bytearray(p.read_bytes())
    at = at % (len(raw) + 1)
    if kind == "flip" and raw:
        raw[min(at, len(raw) - 1)] ^= data[0] or 1
    elif kind == "truncate":
        raw = raw[:at]
    elif kind == "append":
        raw += data
    else:
        raw[at:at + len(data)] = data
    p.write_bytes(bytes(raw))


def check_index(pristine: Path, how: tuple[str, str, int, bytes], verify: bool) -> str:
    """Damage one file of a copy of a good index, then load and search it: results or a LadderError."""
    from ladder.retrieval.index import Index
    from ladder.testing import DummyEmbedder

    with tempfile.TemporaryDirectory() as d:
        folder = Path(d) / "idx"
        shutil.copytree(pristine, folder)
        damage(folder, how)
        try:
            idx = Index.load(folder, embedder=DummyEmbedder(dim=16), verify=verify)
            for method in ("bm25", "dense", "hybrid"):
                hits = idx.search("mountain word3 city2", k=5, method=method)
                assert all(0 <= len(h.text) for h in hits)
        except LadderError:
            return "error"
        return "ok"


# -- the HTTP backend's answers ---------------------------------------------------------------------
ANSWERS = st.tuples(
    st.sampled_from([200, 200, 200, 400, 404, 500, 503, 0, 99, 999]),
    st.one_of(st.binary(max_size=60), JSON.map(lambda v: json.dumps(v).encode()),
              st.fixed_dictionaries({"choices": st.lists(st.fixed_dictionaries({"message": JSON}) | JSON, max_size=2),
                                     "usage": JSON}).map(lambda v: json.dumps(v).encode())),
)


def check_answer(case: tuple[int, bytes]) -> str:
    from ladder.models.openai_http import parse_completion

    status, body = case
    try:
        text, tin, tout = parse_completion(status, body, "http://fuzz/v1/chat/completions")
    except LadderError as e:
        assert "http://fuzz/v1/chat/completions" in str(e), "the error must name the URL"
        return "error"
    assert isinstance(text, str) and isinstance(tin, int) and isinstance(tout, int) and tin >= 0 and tout >= 0
    return "ok"


TARGETS: dict[str, tuple[Any, Callable[..., str]]] = {
    "task_file": (task_files(), check_task_file),
    "jsonl": (JSONL_BYTES, check_jsonl),
    "template": (templates(), check_template),
    "http_answer": (ANSWERS, check_answer),
}

"""Property tests: wherever input enters ladder, any input gives a result or a LadderError, never another
exception, and leaves no partial file. Fast (60 examples each); bench/fuzz.py runs the same targets for
minutes each and records what it tried in bench/results/fuzz.json."""
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fuzz import targets as T

FAST = settings(max_examples=60, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                       HealthCheck.data_too_large, HealthCheck.filter_too_much])


@FAST
@given(T.task_files())
def test_task_loader(case):
    T.check_task_file(case)


@FAST
@given(T.JSONL_BYTES)
def test_jsonl_reader(data):
    T.check_jsonl(data)


@FAST
@given(T.templates())
def test_templates(case):
    T.check_template(case)


@FAST
@given(T.ANSWERS)
def test_http_answer_parsing(case):
    T.check_answer(case)


@pytest.fixture(scope="module")
def cli_task(tmp_path_factory):
    T.register_fuzz_model()
    d = tmp_path_factory.mktemp("cli")
    return T.write_cli_task(d), d


@settings(FAST, max_examples=40)
@given(T.CLI_ARGS)
def test_cli_run_options(cli_task, args):
    task_file, d = cli_task
    before = {p.name for p in d.iterdir()}
    T.check_cli_run(task_file, d / "runs.db", args)
    made = {p.name for p in d.iterdir()} - before
    stores = {"runs.db"} | {Path(v).name for o, v in args if o == "--db"}
    allowed = stores | {f"{n}-wal" for n in stores} | {f"{n}-shm" for n in stores}
    assert made <= allowed, made  # a run store where asked for, nothing half-written beside it
    for name in made:
        (d / name).unlink() if (d / name).is_file() else None


@pytest.fixture(scope="module")
def pristine_index(tmp_path_factory):
    return T.build_fuzz_index(tmp_path_factory.mktemp("fuzzidx"))


@settings(FAST, max_examples=50)
@given(T.DAMAGE, st.booleans())
def test_index_reader(pristine_index, how, verify):
    T.check_index(pristine_index, how, verify)


@settings(FAST, max_examples=50)
@given(T.DAMAGE.filter(lambda how: how[0] != "manifest.json"))  # the manifest is the reference, not hashed itself
def test_a_verified_index_refuses_every_changed_file(pristine_index, how):
    import hashlib
    import shutil
    import tempfile

    from ladder.errors import LadderError
    from ladder.retrieval.index import Index

    with tempfile.TemporaryDirectory() as d:
        folder = Path(d) / "idx"
        shutil.copytree(pristine_index, folder)
        name = how[0]
        before = (folder / name).read_bytes()
        T.damage(folder, how)
        p = folder / name
        changed = not p.exists() or hashlib.sha256(p.read_bytes()).digest() != hashlib.sha256(before).digest()
        if changed:
            with pytest.raises(LadderError):
                Index.load(folder, verify=True)

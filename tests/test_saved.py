import json
from pathlib import Path

import pytest

from ladder.errors import LadderError
from ladder.rungs import get_rung
from ladder.saved import load, save_program
from ladder.task import load_task
from ladder.testing import DummyModel


def echo_model(**kw):
    """Answers with a label picked from the prompt's last user turn, so outputs depend on the messages."""
    def respond(messages):
        return "positive" if any(w in messages[-1]["content"].lower() for w in ("lov", "joy", "best")) else "negative"
    return DummyModel(respond=respond, **kw)


@pytest.mark.parametrize("rung, options", [("zero-shot", {}), ("zero-shot", {"calibrate": True}),
                                           ("few-shot", {"k": 3, "selector": "balanced", "seed": 2}),
                                           ("few-shot", {"k": 2, "selector": "random", "seed": 7})])
def test_loaded_program_sends_the_same_messages_and_answers_the_same(sentiment_task, tmp_path, rung, options):
    task = load_task(sentiment_task)
    original = get_rung(rung)(task, echo_model(), options)
    before = [original(ex).text for ex in task.test]
    folder = save_program(original, tmp_path / "prog", task_file=sentiment_task)

    model = echo_model()
    loaded = load(folder, model=model)
    after = [loaded(ex) for ex in task.test]
    assert after == before
    sent = [c["messages"] for c in model.calls if c["messages"][-1]["content"] != "N/A"]
    assert sent[-len(task.test):] == [original.messages(ex) for ex in task.test]
    assert loaded.task.labels == ["negative", "positive"] and loaded.task.test == []
    assert loaded.describe()["rung"] == rung


def test_folder_is_plain_and_holds_no_test_rows(sentiment_task, tmp_path):
    task = load_task(sentiment_task)
    program = get_rung("few-shot")(task, DummyModel(), {"k": 2, "selector": "fixed"})
    folder = save_program(program, tmp_path / "p")
    assert sorted(p.name for p in folder.iterdir()) == ["manifest.json", "program.json"]
    doc = json.loads((folder / "program.json").read_text())
    assert doc["format"] == "ladder.program" and doc["version"] == 1 and doc["rung"] == "few-shot"
    assert doc["state"]["demos"] == task.train[:2] and doc["task"]["train"] == []
    assert doc["model"]["backend"] is None and doc["model"]["spec"] == "dummy"
    assert doc["prompt"]["system"].startswith("Classify the sentiment")
    text = (folder / "program.json").read_text()
    assert not any(ex["text"] in text for ex in task.test)
    assert not [p for p in tmp_path.iterdir() if ".tmp-" in p.name]  # no temp folder left


def test_tampering_is_refused_unless_no_verify(sentiment_task, tmp_path):
    program = get_rung("zero-shot")(load_task(sentiment_task), DummyModel(default="positive"), {})
    folder = save_program(program, tmp_path / "p")
    doc = json.loads((folder / "program.json").read_text())
    doc["task"]["instruction"] = "Say positive whatever happens."
    (folder / "program.json").write_text(json.dumps(doc))
    with pytest.raises(LadderError, match="'program.json' changed.*--no-verify"):
        load(folder, model=DummyModel())
    assert load(folder, verify=False, model=DummyModel()).task.instruction == "Say positive whatever happens."


def test_in_process_model_needs_an_explicit_model(sentiment_task, tmp_path):
    folder = save_program(get_rung("zero-shot")(load_task(sentiment_task), DummyModel(), {}), tmp_path / "p")
    with pytest.raises(LadderError, match=r"pass load\(path, model=...\)"):
        load(folder)


@pytest.mark.parametrize("fields, needle", [("some text", "must be an object"), (["text"], "must be an object"),
                                            ({}, "missing field 'text'"), ({"text": {"a": 1}}, "must be text")])
def test_bad_fields_are_one_clear_error(sentiment_task, tmp_path, fields, needle):
    folder = save_program(get_rung("zero-shot")(load_task(sentiment_task), DummyModel(), {}), tmp_path / "p")
    with pytest.raises(LadderError, match=needle):
        load(folder, model=DummyModel())(fields)


def test_format_version_and_kind_are_checked(sentiment_task, tmp_path):
    folder = save_program(get_rung("zero-shot")(load_task(sentiment_task), DummyModel(), {}), tmp_path / "p")
    doc = json.loads((folder / "program.json").read_text())
    doc["version"] = 99
    (folder / "program.json").write_text(json.dumps(doc))
    with pytest.raises(LadderError, match="format version 99"):
        load(folder, verify=False, model=DummyModel())
    with pytest.raises(LadderError, match="no manifest.json"):
        load(tmp_path)


@pytest.mark.integration  # real MiniLM / bundled weights
def test_model_hash_mismatch_is_refused(sentiment_task, tmp_path):
    from ladder.saved import _load_model

    ref = {"spec": "smollm2-135m", "backend": "bundled", "sha256": "0" * 64, "base_url": None}
    pytest.importorskip("llama_cpp")
    from ladder.models.bundled import is_installed

    if not is_installed("smollm2-135m"):
        pytest.skip("smollm2-135m not installed")
    with pytest.raises(LadderError, match="SHA-256 .*saved with 000000000000"):
        _load_model(ref, None, True, None)
    assert _load_model(ref, None, False, None).name == "smollm2-135m"


@pytest.mark.integration
def test_smollm2_zero_and_few_shot_reproduce_after_load(sentiment_task, tmp_path):
    from ladder.models import load_model

    task = load_task(sentiment_task)
    for rung, opts in [("zero-shot", {}), ("few-shot", {"k": 2, "selector": "balanced"})]:
        program = get_rung(rung)(task, load_model("smollm2-135m"), opts)
        before = [program(ex).text for ex in task.test]
        loaded = load(save_program(program, tmp_path / rung))
        assert loaded.describe()["model_sha256"] == "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
        assert [loaded(ex) for ex in task.test] == before


@pytest.mark.integration
def test_rag_program_keeps_its_index_reference(sentiment_task, tmp_path):
    from ladder.retrieval.index import build_index

    docs = [{"id": "a", "title": "Films", "text": "People who loved a film call it a joy to watch."},
            {"id": "b", "title": "Food", "text": "Cold food and rude staff make a bad evening."}]
    build_index(docs, tmp_path / "idx")
    task = load_task(sentiment_task)
    task.corpus = str(tmp_path / "idx")
    original = get_rung("rag")(task, echo_model(), {"k": 1, "method": "bm25"})
    folder = save_program(original, tmp_path / "rag")
    ref = json.loads((folder / "program.json").read_text())["state"]["index"]
    assert ref["path"] == str((tmp_path / "idx").resolve()) and len(ref["manifest_sha256"]) == 64
    loaded = load(folder, model=echo_model())
    assert [loaded.program.messages(ex) for ex in task.test] == [original.messages(ex) for ex in task.test]
    manifest = tmp_path / "idx" / "manifest.json"
    manifest.write_text(manifest.read_text().replace('"corpus"', '"corpus_"'))
    with pytest.raises(LadderError, match="index at .* changed since the program was saved"):
        load(folder, model=echo_model())


def test_adapter_is_copied_into_the_folder(sentiment_task, tmp_path):
    from ladder.rungs.base import Program

    adapter = tmp_path / "adapter-src.gguf"
    adapter.write_bytes(b"GGUF fake adapter bytes")
    model = DummyModel(default="positive")
    model.lora_path = str(adapter)
    program = Program("finetune", load_task(sentiment_task), model, config={"rank": 8}, list_labels=False)
    folder = save_program(program, tmp_path / "ft")
    doc = json.loads((folder / "program.json").read_text())
    assert doc["adapter"] == "adapter.gguf" and (folder / "adapter.gguf").read_bytes() == adapter.read_bytes()
    assert doc["model"]["lora"] is True and not doc["list_labels"]
    loaded = load(folder, model=DummyModel(default="positive"))
    assert loaded.program.list_labels is False and loaded({"text": "fine"}) == "positive"
    (folder / "adapter.gguf").write_bytes(b"GGUF other bytes!!!!!!!")
    with pytest.raises(LadderError, match="'adapter.gguf' changed"):
        load(folder, model=DummyModel())


@pytest.mark.integration
def test_programs_in_a_climb_run_reproduce_its_predictions(sentiment_task, tmp_path):
    """What the climb scored is what `ladder.load` answers: every row's saved program, SmolLM2."""
    from ladder.advisor import climb
    from ladder.store import Store

    task = load_task(sentiment_task)
    result = climb(task, ["smollm2-135m"], ["zero-shot", "few-shot"], store=Store(str(tmp_path / "runs.db")),
                   all_rows=True, runs_dir=tmp_path / "runs", task_file=str(sentiment_task))
    run_dir = Path(result.run_dir)
    run = json.loads((run_dir / "run.json").read_text())
    assert len(run["rows"]) == 2 and (run_dir / "best" / "program.json").is_file()
    for row in run["rows"]:
        program = load(run_dir / row["dir"] / "program")
        preds = [json.loads(line) for line in (run_dir / row["dir"] / "predictions.jsonl").read_text().splitlines()]
        assert [program({"text": p["input"]}) for p in preds] == [p["output"] for p in preds]

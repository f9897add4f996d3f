import pytest

from ladder.errors import TaskError
from ladder.leaks import check_no_leak
from ladder.task import Task, load_task
from tests.conftest import write_jsonl


def test_loads_task_with_relative_paths(sentiment_task):
    task = load_task(sentiment_task)
    assert task.labels == ["negative", "positive"]
    assert len(task.train) == 8 and len(task.test) == 4
    assert task.render({"text": "hi"}) == "hi"
    assert task.fingerprint() == load_task(sentiment_task).fingerprint()


def test_labels_auto_takes_distinct_train_outputs(tmp_path):
    write_jsonl(tmp_path / "tr.jsonl", [{"q": "a", "y": "x"}, {"q": "b", "y": "z"}])
    write_jsonl(tmp_path / "te.jsonl", [{"q": "c", "y": "x"}])
    (tmp_path / "t.toml").write_text('instruction="i"\ninput="{q}"\noutput="y"\nlabels="auto"\n'
                                     'train="tr.jsonl"\ntest="te.jsonl"\n')
    assert load_task(tmp_path / "t.toml").labels == ["x", "z"]


@pytest.mark.parametrize("toml, rows, message", [
    ('instruction = "i"\noutput = "label"\ntrain = "train.jsonl"\ntest = "test.jsonl"\n[[', None, "malformed TOML"),
    ('instruction = "i"\noutput = "label"\ntrain = "train.jsonl"\ntest = "missing.jsonl"\n', None, "missing.jsonl"),
    ('instruction = "i"\noutput = "label"\ntrain = "train.jsonl"\ntest = "test.jsonl"\nmetric = "bleurt"\n', None,
     "unknown metric 'bleurt'"),
    ('instruction = "i"\noutput = "label"\ntrain = "train.jsonl"\ntest = "test.jsonl"\n', [{"text": "a"}],
     "test example 1: missing the output field 'label'"),
    ('instruction = "i"\noutput = "label"\nlabels = ["a"]\ntrain = "train.jsonl"\ntest = "test.jsonl"\n',
     [{"text": "t", "label": "b"}], "'b' is not one of the labels"),
    ('instruction = "i"\noutput = "label"\ntrain = "train.jsonl"\ntest = "test.jsonl"\ncolour = 1\n', None,
     "unknown field 'colour'"),
    ('instruction = "i"\noutput = "label"\nlabels = "auto"\ntrain = "train.jsonl"\ntest = "test.jsonl"\n',
     [{"text": "t", "label": ["a", "b"]}], "test example 1: field 'label' is a list of references; a label task"),
    ('instruction = "i"\noutput = "label"\ntrain = "train.jsonl"\ntest = "test.jsonl"\n',
     [{"text": "t", "label": []}], "must be a string or a non-empty list of reference strings"),
])
def test_bad_task_files_name_the_problem(tmp_path, toml, rows, message):
    write_jsonl(tmp_path / "train.jsonl", [{"text": "t", "label": "a"}])
    write_jsonl(tmp_path / "test.jsonl", rows or [{"text": "t", "label": "a"}])
    (tmp_path / "task.toml").write_text(toml)
    with pytest.raises(TaskError, match=message.replace("[", r"\[").replace("(", r"\(")):
        load_task(tmp_path / "task.toml")


def test_bad_jsonl_line_names_file_and_line(tmp_path):
    write_jsonl(tmp_path / "train.jsonl", [{"text": "t", "label": "a"}])
    (tmp_path / "test.jsonl").write_bytes(b'{"text": "ok", "label": "a"}\n{"text": "\xff\xfe", "label": "a"}\n')
    (tmp_path / "task.toml").write_text('instruction="i"\noutput="label"\ntrain="train.jsonl"\ntest="test.jsonl"\n')
    with pytest.raises(TaskError, match=r"test.jsonl:2: not valid UTF-8"):
        load_task(tmp_path / "task.toml")
    (tmp_path / "test.jsonl").write_text('{"text": "ok", "label": "a"}\n{"text": \n')
    with pytest.raises(TaskError, match=r"test.jsonl:2: invalid JSON"):
        load_task(tmp_path / "task.toml")


def test_leak_check_compares_inputs():
    test = [{"text": "same", "label": "a"}]
    check_no_leak(test, [{"text": "other", "label": "a"}], "demos", ["text"])
    with pytest.raises(TaskError, match="1 test example"):
        check_no_leak(test, [{"text": "same", "label": "b"}], "demos", ["text"])


def test_python_built_task_validates():
    with pytest.raises(TaskError, match="test split is empty"):
        Task("t", "i", "{text}", "label", train=[], test=[])


def test_reference_lists_score_all_and_show_the_first():
    task = Task("simplify", "Simplify.", "Simplify: {sentence}", "refs", metric="sari",
                train=[{"sentence": "s1", "refs": ["r1", "r2"]}], test=[{"sentence": "s2", "refs": ["r3"]}])
    ex = task.train[0]
    assert task.expected(ex) == ["r1", "r2"] and task.answer(ex) == "r1"
    # SARI's source is the sentence itself, not the instruction around it
    assert task.source_text(ex) == "s1" and task.render(ex) == "Simplify: s1"
    two = Task("t", "i", "{a} {b}", "y", train=[], test=[{"a": "x", "b": "z", "y": "w"}])
    assert two.source_text(two.test[0]) == "x z"


def test_free_text_answer_budget_fits_the_train_answers(tmp_path):
    short = Task("t", "i", "{q}", "a", train=[{"q": "x", "a": "yes"}], test=[{"q": "y", "a": "no"}])
    assert short.answer_budget == 32  # the floor
    long = Task("t", "i", "{q}", "a", train=[{"q": "x", "a": "w" * 300}], test=[{"q": "y", "a": "no"}])
    assert long.answer_budget == 300 // 3 * 3 // 2 + 8
    assert Task("t", "i", "{q}", "a", train=[], test=[{"q": "y", "a": "no"}], max_tokens=7).answer_budget == 7
    write_jsonl(tmp_path / "tr.jsonl", [{"q": "a", "y": "x"}])
    (tmp_path / "t.toml").write_text('instruction="i"\ninput="{q}"\noutput="y"\nmax_tokens=0\n'
                                     'train="tr.jsonl"\ntest="tr.jsonl"\n')
    with pytest.raises(TaskError, match="'max_tokens' must be a positive whole number"):
        load_task(tmp_path / "t.toml")

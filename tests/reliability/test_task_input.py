"""Bad task files: each is one TaskError/InputError naming the file, line or field, never another exception."""
import pytest

from ladder.errors import LadderError
from ladder.task import Task, load_task, template_fields
from tests.conftest import write_jsonl

BASE = 'instruction = "i"\noutput = "label"\ntrain = "train.jsonl"\ntest = "test.jsonl"\n'


def load(tmp_path, extra="", rows=None, train=None):
    write_jsonl(tmp_path / "train.jsonl", train or [{"text": "t", "label": "a"}])
    write_jsonl(tmp_path / "test.jsonl", rows or [{"text": "u", "label": "a"}])
    (tmp_path / "task.toml").write_text(BASE + extra)
    return load_task(tmp_path / "task.toml")


def sqrt_like(x):  # one argument: not a metric
    return x


def returns_text(pred, ref):
    return "yes"


@pytest.mark.parametrize("extra, message", [
    ('requests = "lots"\n', "field 'requests' must be a whole number of requests above 0"),
    ("requests = 0\n", "field 'requests' must be a whole number"),
    ("requests = 2.5\n", "field 'requests' must be a whole number"),
    ("prices = 5\n", "field 'prices': must be a table"),
    ("[prices]\ncpu_hour = -1\n", "field 'prices.cpu_hour': must be a non-negative number"),
    ('[prices]\ncpu_hour = "cheap"\n', "field 'prices.cpu_hour'"),
    ("[prices]\nmodels = 3\n", "field 'prices.models'"),
    ('[prices.models."openai/x"]\ninput_per_million = "a"\n', "field 'prices.models.openai/x'"),
    ("[prices]\ntea = 1\n", "unknown key 'tea'"),
    ("target = 5\n", "field 'target' must be a number between 0 and 1, got 5"),
    ("target = -0.1\n", "field 'target' must be a number between 0 and 1"),
    ("target = true\n", "field 'target' must be a number between 0 and 1"),
    ("target = nan\n", "field 'target' must be a number between 0 and 1"),
    ('labels = ["a", "b", "a"]\n', "field 'labels': 'a' is listed twice"),
    ('labels = ["a", 1, "1"]\n', "field 'labels': '1' is listed twice"),
    ('labels = ["a", " "]\n', "a label is blank"),
    ("labels = [true]\n", "field 'labels' must be a non-empty list"),
    ('metric = "math:sqrt"\n', "'math:sqrt' failed on a train example .TypeError"),
    ('metric = "tests.reliability.test_task_input:sqrt_like"\n', "failed on a train example .TypeError"),
    ('metric = "tests.reliability.test_task_input:returns_text"\n', "returned 'yes', not a finite number"),
    ('metric = "math:pi"\n', "is not a function"),
    ('metric = "no_such_module_xyz:f"\n', "cannot import metric"),
    ('metric = ":"\n', "cannot import metric"),
    ('input = "{text.__class__.__mro__}"\n', r"\{text.__class__.__mro__\} is not a plain field name"),
    ('input = "{text[0]}"\n', r"\{text\[0\]\} is not a plain field name"),
    ('input = "{text:>{text.__class__}}"\n', "is not a plain field name"),
    ('input = "{text!r}"\n', r"\{text!r\} is not a plain field name"),
    ('input = "{}"\n', r"\{\} is not a plain field name"),
    ('input = "{0}"\n', r"\{0\} is not a plain field name"),
    ('input = "{text"\n', "bad template"),
    ("max_tokens = -1\n", "field 'max_tokens'"),
    ("max_tokens = true\n", "field 'max_tokens'"),
    ("judge = 3\n", "field 'judge' must be a table"),
    ("id = 3\n", "field 'id' must be the name of a field"),
])
def test_bad_settings_name_the_field(tmp_path, extra, message):
    with pytest.raises(LadderError, match=message) as e:
        load(tmp_path, extra)
    assert str(tmp_path / "task.toml") in str(e.value)


def test_attribute_access_never_renders_python_internals(tmp_path):
    with pytest.raises(LadderError):
        Task("t", "i", "{text.__class__.__mro__}", "label", [], [{"text": "x", "label": "a"}])


def test_a_good_module_metric_is_accepted(tmp_path):
    task = load(tmp_path, 'metric = "ladder.metrics:exact_match"\n')
    assert task.metric == "ladder.metrics:exact_match"


@pytest.mark.parametrize("rows, message", [
    ([{"text": "u", "label": "a"}, {"text": "v"}], r"test.jsonl:2: test example 2: missing the output field 'label'"),
    ([{"text": "u", "label": "a"}, 5], r"test.jsonl:2: test example 2: expected a JSON object, got int"),
    ([{"label": "a"}], r"test.jsonl:1: test example 1: missing field 'text'"),
])
def test_example_problems_name_file_and_line(tmp_path, rows, message):
    with pytest.raises(LadderError, match=message):
        load(tmp_path, "", rows)


def test_line_numbers_count_blank_lines(tmp_path):
    write_jsonl(tmp_path / "train.jsonl", [{"text": "t", "label": "a"}])
    (tmp_path / "test.jsonl").write_text('{"text": "u", "label": "a"}\n\n\n{"text": "v"}\n')
    (tmp_path / "task.toml").write_text(BASE)
    with pytest.raises(LadderError, match=r"test.jsonl:4: test example 2"):
        load_task(tmp_path / "task.toml")


def test_deeply_nested_json_is_an_error_not_a_recursion_crash(tmp_path):
    write_jsonl(tmp_path / "train.jsonl", [{"text": "t", "label": "a"}])
    (tmp_path / "test.jsonl").write_text("[" * 100_000 + "]" * 100_000 + "\n")
    (tmp_path / "task.toml").write_text(BASE)
    with pytest.raises(LadderError, match=r"test.jsonl:1: JSON nested too deeply"):
        load_task(tmp_path / "task.toml")


def test_a_split_that_is_a_folder_is_named(tmp_path):
    (tmp_path / "test.jsonl").mkdir()
    write_jsonl(tmp_path / "train.jsonl", [{"text": "t", "label": "a"}])
    (tmp_path / "task.toml").write_text(BASE)
    with pytest.raises(LadderError, match="test split is a folder"):
        load_task(tmp_path / "task.toml")


def test_python_api_gets_the_same_checks():
    ex = [{"text": "x", "label": "a"}]
    with pytest.raises(LadderError, match="'requests'"):
        Task("t", "i", "{text}", "label", ex, ex, requests="lots")
    with pytest.raises(LadderError, match="'target'"):
        Task("t", "i", "{text}", "label", ex, ex, target=5)
    with pytest.raises(LadderError, match="'prices'"):
        Task("t", "i", "{text}", "label", ex, ex, prices=5)


def test_template_fields_are_plain_names():
    assert template_fields("{a} and {b_2} {{literal}}", "s", "input") == ["a", "b_2"]

"""Task splits in the formats people already have, through the same registry a plugin uses."""
import json

import pytest

from ladder.errors import TaskError
from ladder.splits import SPLIT_READERS, read_split
from ladder.task import load_task

ROWS = [{"text": "great film", "label": "positive"}, {"text": "dull plot", "label": "negative"},
        {"text": "a joy", "label": "positive"}]


def write_task(folder, train, test, extra=""):
    (folder / "task.toml").write_text(f'instruction = "Classify."\ninput = "{{text}}"\noutput = "label"\n'
                                      f'train = "{train}"\ntest = "{test}"\n{extra}')
    return load_task(folder / "task.toml")


def test_csv_and_tsv_with_lines(tmp_path):
    (tmp_path / "train.csv").write_text("text,label\n" + "".join(f'"{r["text"]}",{r["label"]}\n' for r in ROWS))
    (tmp_path / "test.tsv").write_text("text\tlabel\nso, so good\tpositive\n")
    task = write_task(tmp_path, "train.csv", "test.tsv")
    assert task.train == ROWS and task.test == [{"text": "so, so good", "label": "positive"}]
    assert task.origins["train"][1] == f"{tmp_path / 'train.csv'}:3"


def test_csv_with_a_ragged_row_names_the_line(tmp_path):
    (tmp_path / "bad.csv").write_text("text,label\ngood,positive\nbad,negative,extra\n")
    with pytest.raises(TaskError, match=r"bad.csv:3: the row has a different number of columns"):
        read_split(tmp_path / "bad.csv", "train")


def test_openai_chat_jsonl_last_assistant_turn_is_the_output(tmp_path):
    chats = [{"messages": [{"role": "system", "content": "Label sentiment."}, {"role": "user", "content": r["text"]},
                           {"role": "assistant", "content": r["label"]}]} for r in ROWS]
    (tmp_path / "train.jsonl").write_text("".join(json.dumps(c) + "\n" for c in chats))
    (tmp_path / "test.jsonl").write_text(json.dumps(chats[0]) + "\n")
    (tmp_path / "task.toml").write_text('instruction = "Classify."\ninput = "{input}"\noutput = "output"\n'
                                        'train = "train.jsonl"\ntest = "test.jsonl"\n')
    task = load_task(tmp_path / "task.toml")
    assert task.train[1] == {"input": "dull plot", "output": "negative", "system": "Label sentiment."}
    assert task.render(task.test[0]) == "great film" and task.answer(task.test[0]) == "positive"


def test_chat_without_an_assistant_turn_is_refused_by_line(tmp_path):
    (tmp_path / "c.jsonl").write_text(json.dumps({"messages": [{"role": "user", "content": "hi"}]}) + "\n")
    with pytest.raises(TaskError, match=r"c.jsonl:1: no assistant turn"):
        read_split(tmp_path / "c.jsonl", "train")


def test_parquet_and_a_datasets_folder(tmp_path):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    pq.write_table(pa.Table.from_pylist(ROWS), tmp_path / "train.parquet")
    datasets = pytest.importorskip("datasets")
    datasets.DatasetDict({"test": datasets.Dataset.from_list(ROWS[:2])}).save_to_disk(str(tmp_path / "hf"))
    task = write_task(tmp_path, "train.parquet", "hf")
    assert task.train == ROWS and task.test == ROWS[:2]
    assert task.origins["test"][0] == f"{tmp_path / 'hf'} [test] row 1"
    with pytest.raises(TaskError, match="holds splits test, not 'train'"):
        read_split(tmp_path / "hf", "train")


def test_unknown_formats_list_the_registered_ones(tmp_path):
    (tmp_path / "train.xlsx").write_text("x")
    with pytest.raises(TaskError, match=r"train.xlsx: train split is in an unknown format; use .*\.csv/\.tsv"):
        read_split(tmp_path / "train.xlsx", "train")
    (tmp_path / "folder").mkdir()
    with pytest.raises(TaskError, match="is a folder, not a split file"):
        read_split(tmp_path / "folder", "test")


def test_a_plugin_format_registers_like_the_built_ins(tmp_path):
    from ladder.splits import SplitReader

    SPLIT_READERS.register("lines", SplitReader(
        "lines", lambda p: p.suffix == ".lines",
        lambda p, split: ([{"text": t, "label": "x"} for t in p.read_text().split("\n") if t], [str(p)])))
    try:
        (tmp_path / "a.lines").write_text("one\ntwo\n")
        assert [r["text"] for r in read_split(tmp_path / "a.lines", "train")[0]] == ["one", "two"]
    finally:
        SPLIT_READERS.unregister("lines")

"""Distillation: a teacher double labels inputs; its answers are filtered; a tiny student trains on them."""
import json
import math

import pytest

pytest.importorskip("peft")

from ladder.errors import LadderError  # noqa: E402
from ladder.rungs.base import Program  # noqa: E402
from ladder.task import Task  # noqa: E402
from ladder.testing import DummyModel  # noqa: E402
from ladder.models import hf  # noqa: E402
from ladder.distill import DistillConfig, distill, label_one  # noqa: E402
from ladder.train.lora import LoraConfig  # noqa: E402

FRUIT = ["red apple", "green pear", "ripe plum", "sweet fig", "fresh lime", "sour lemon", "dry date", "wet grape"]
VEHICLE = ["old car", "fast bus", "slow train", "big truck", "small van", "blue bike", "new tram", "loud jet"]
INSTRUCTION = "Is it a fruit or a vehicle?"


def make_task():
    train = [{"text": "a banana", "label": "fruit"}, {"text": "a boat", "label": "vehicle"}]
    test = [{"text": "a kiwi", "label": "fruit"}, {"text": "a taxi", "label": "vehicle"}]
    return Task(name="things", instruction=INSTRUCTION, input="{text}", output="label", train=train, test=test,
                labels=["fruit", "vehicle"])


def teacher(free_text=False):
    """Knows the answer from the last user turn; says 'no idea' about anything 'loud'."""
    def respond(messages):
        text = messages[-1]["content"]
        if "loud" in text:
            return "no idea"
        return "It is a fruit." if any(w in text for w in FRUIT) else "vehicle"
    return DummyModel(respond=respond, scores_choices=not free_text, name="teacher")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    words = FRUIT + VEHICLE + [INSTRUCTION, "Answer with exactly one of: fruit, vehicle.", "a banana", "a boat",
                               "a kiwi", "a taxi", "It is a fruit."]
    return str(hf.write_tiny_base(tmp_path_factory.mktemp("tiny") / "base", words))


def write_inputs(path, texts):
    path.write_text("".join(json.dumps({"text": t}) + "\n" for t in texts))
    return path


def test_free_text_answers_map_onto_labels_and_unknowns_are_dropped(tiny, tmp_path):
    inputs = write_inputs(tmp_path / "in.jsonl", FRUIT + VEHICLE)
    cfg = DistillConfig(teacher=teacher(free_text=True), teacher_rung="zero-shot")
    report = distill(make_task(), inputs, tiny, tmp_path / "run", cfg,
                     LoraConfig(max_steps=3, batch_size=4, dropout=0.0), evaluate_test=False)
    rows = [json.loads(x) for x in (tmp_path / "run" / "teacher_labels.jsonl").read_text().splitlines()]
    assert len(rows) == 16 and report.labelled == 16 and report.kept == 15
    by_text = {r["text"]: r for r in rows}
    assert by_text["red apple"]["label"] == "fruit" and by_text["old car"]["label"] == "vehicle"
    assert by_text["loud jet"]["_kept"] is False and by_text["loud jet"]["label"] is None
    assert report.train.meta["n_train"] == 15 and report.train.steps == 3
    assert report.teacher_usage.tokens_in > 0


def test_confidence_filter_uses_the_teachers_label_scores():
    task = make_task()
    sure = DummyModel(respond=lambda m: "fruit")  # scores 0 vs -5: the chosen label has ~99% of the mass
    prog = Program("zero-shot", task, sure)
    answer, conf, _ = label_one(prog, {"text": "x"}, DistillConfig(teacher=sure, min_confidence=0.9))
    assert answer == "fruit" and conf == pytest.approx(1 / (1 + math.exp(-5)))
    answer, _, _ = label_one(prog, {"text": "x"}, DistillConfig(teacher=sure, min_confidence=0.999))
    assert answer is None


def test_self_consistency_keeps_the_majority_only_when_enough_votes_agree():
    task = make_task()
    votes = DummyModel(["fruit", "vehicle", "fruit", "vehicle", "vehicle", "fruit"], scores_choices=False)
    prog = Program("zero-shot", task, votes)
    answer, conf, _ = label_one(prog, {"text": "x"}, DistillConfig(teacher=votes, votes=3, min_agreement=0.6))
    assert answer == "fruit" and conf == pytest.approx(2 / 3)
    answer, conf, _ = label_one(prog, {"text": "x"}, DistillConfig(teacher=votes, votes=3, min_agreement=0.7))
    assert answer is None and conf == pytest.approx(2 / 3)
    assert all(c["max_tokens"] == 16 for c in votes.calls) and len(votes.calls) == 6


def test_inputs_containing_test_examples_are_refused(tiny, tmp_path):
    inputs = write_inputs(tmp_path / "in.jsonl", FRUIT + ["a kiwi"])
    with pytest.raises(LadderError, match="1 test example"):
        distill(make_task(), inputs, tiny, tmp_path / "run", DistillConfig(teacher=teacher()), evaluate_test=False)


def test_inputs_missing_the_template_field_name_the_line(tiny, tmp_path):
    (tmp_path / "in.jsonl").write_text('{"text": "red apple"}\n{"body": "old car"}\n')
    with pytest.raises(LadderError, match=r"in.jsonl: input 2: missing field 'text'"):
        distill(make_task(), tmp_path / "in.jsonl", tiny, tmp_path / "run", DistillConfig(teacher=teacher()))

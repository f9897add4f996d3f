"""`similar_selector`: the k nearest TRAIN examples by embedding; never a test example."""
import numpy as np
import pytest

from ladder.errors import LadderError
from ladder.retrieval.similar import nearest, similar_selector
from ladder.task import Task
from ladder.testing import DummyEmbedder

TRAIN = [
    {"text": "the cat sat on the mat", "label": "animals"},
    {"text": "a kitten chased the cat", "label": "animals"},
    {"text": "stocks fell on the market today", "label": "finance"},
    {"text": "the market rallied as stocks rose", "label": "finance"},
    {"text": "rain and wind are expected tomorrow", "label": "weather"},
]
TEST = [{"text": "the cat and the kitten", "label": "animals"}, {"text": "stocks and the market", "label": "finance"}]


def task(train=TRAIN, test=TEST):
    return Task("t", "Classify.", "{text}", "label", train=list(train), test=list(test), labels=["animals", "finance", "weather"])


def bow(texts):
    return DummyEmbedder(256).encode(list(texts))


def test_nearest_by_cosine():
    pool = np.eye(3, dtype=np.float32)
    assert nearest(np.array([0.1, 0.9, 0.3]), pool, 2) == [1, 2]
    assert nearest(np.array([0.1, 0.9, 0.3]), pool, 5, exclude={1}) == [2, 0]


def test_picks_the_nearest_train_examples_closest_last():
    pick = similar_selector(task(), 2, embed=bow)
    demos = pick(TEST[0])
    assert {d["text"] for d in demos} == {"the cat sat on the mat", "a kitten chased the cat"}
    assert demos[-1]["text"] == "a kitten chased the cat"  # the closest one sits next to the input
    assert all(d in TRAIN for d in pick(TEST[1]))
    assert {d["label"] for d in pick(TEST[1])} == {"finance"}


def test_never_returns_test_examples_and_skips_the_input_itself():
    t = task()
    pick = similar_selector(t, 10, embed=bow)
    for ex in t.test:
        assert not any(d in t.test for d in pick(ex))
    same = pick(TRAIN[0])  # asked about a train example: it is not its own demo
    assert TRAIN[0] not in same and len(same) == len(TRAIN) - 1


def test_test_examples_in_train_are_refused():
    with pytest.raises(LadderError, match="test example"):
        similar_selector(task(train=TRAIN + [TEST[0]]), 2, embed=bow)


def test_bad_k_and_empty_train():
    with pytest.raises(LadderError, match="k must be"):
        similar_selector(task(), 0, embed=bow)


def test_few_shot_rung_uses_it(monkeypatch, tmp_path):
    from ladder.rungs import few_shot
    from ladder.testing import DummyModel

    import ladder.retrieval.similar as similar

    monkeypatch.setattr(similar, "_default_embed", bow)  # the compile path, without loading MiniLM
    monkeypatch.setenv("LADDER_HOME", str(tmp_path))  # keep these vectors out of the shared cache
    prog = few_shot.compile(task(), DummyModel(), {"selector": "similar", "k": 1})
    msgs = prog.messages(TEST[1])
    assert msgs[1]["content"] in ("stocks fell on the market today", "the market rallied as stocks rose")
    assert msgs[-1]["content"] == "stocks and the market"


@pytest.mark.integration
def test_with_the_real_minilm_embedder():
    train = TRAIN + [{"text": "heavy snowfall closed the mountain roads", "label": "weather"}]
    pick = similar_selector(task(train=train), 1)
    assert pick({"text": "a blizzard is coming with lots of snow", "label": "weather"})[0]["label"] == "weather"
    assert pick({"text": "my puppy loves to play fetch", "label": "animals"})[0]["label"] == "animals"

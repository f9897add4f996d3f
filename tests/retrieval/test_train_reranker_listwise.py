"""Listwise reranker training: groups mined from the first stage, softmax loss per group, the CLI."""
import json

import pytest

from ladder.errors import LadderError
from ladder.retrieval import train_data as td
from ladder.retrieval import train_reranker as tr
from ladder.retrieval.cross_encoder import CrossEncoderReranker
from ladder.retrieval.hit import Hit
from tests.retrieval.test_rerank_cross_encoder import TOPICS, run_cli, write_beir


@pytest.mark.integration
def test_hybrid_mined_groups_hold_the_first_stages_non_relevant_top_hits(tmp_path):
    folder = write_beir(tmp_path / "b")
    groups, held = td.groups_from_beir(folder, "train", pool=5, holdout=2, method="hybrid")
    assert len(groups) == 6 and len(held) == 2
    for g in groups:
        topic = g.query.split()[-1]
        assert g.positive.startswith(topic.title()) and g.positive not in g.negatives
        assert 1 <= len(g.negatives) <= 5
        # the hardest negative is the other document naming the topic, ranked first by the first stage
        assert g.negatives[0] == f"Misc. An unrelated note that mentions a {topic} only once among other words."
    assert not {TOPICS[int(q[1:])] for q in held} & {g.query.split()[-1] for g in groups}
    with pytest.raises(LadderError, match="test split"):
        td.groups_from_beir(folder, "test", method="hybrid")


def test_pairs_from_groups_draw_negatives_once_per_query():
    negs = ["n1", "n2", "n3"]
    groups = [td.Group("q", "p1", negs, "1"), td.Group("q", "p2", negs, "1"), td.Group("q", "p3", negs, "2"),
              td.Group("r", "p4", [], "3")]
    pairs = td.pairs_from_groups(groups, negatives=2)
    # per query id: its positives, then its negatives; the same text under another id is another query
    assert [(p.passage[0], p.label) for p in pairs] == [("p", 1), ("p", 1), ("n", 0), ("n", 0), ("p", 1), ("n", 0),
                                                        ("n", 0), ("p", 1)]
    assert {p.passage for p in pairs if p.label == 0.0} <= set(negs)


def test_listwise_loss_is_the_softmax_cross_entropy_of_each_groups_positive():
    import random

    import torch

    groups = [td.Group("q1", "pos1", ["a", "b"]), td.Group("q2", "pos2", ["c"])]
    cfg = tr.TrainConfig(loss="listwise", group_size=3, batch_size=6)
    usable, per_step, make_batch = tr._batches(groups, cfg)
    assert per_step == 2 and usable == groups
    queries, passages, loss = make_batch(groups, random.Random(0))
    assert queries == ["q1"] * 3 + ["q2"] * 2 and passages[0] == "pos1" and passages[3] == "pos2"
    logits = torch.tensor([2.0, 0.0, 1.0, -1.0, 1.0])
    expected = (-torch.log_softmax(logits[:3], 0)[0] - torch.log_softmax(logits[3:], 0)[0]) / 2
    assert torch.isclose(loss(logits), expected)


def test_train_data_doctests():
    import doctest

    assert doctest.testmod(td).failed == 0 and doctest.testmod(td).attempted >= 2


@pytest.mark.integration
def test_listwise_training_ranks_the_positive_first(tmp_path):
    folder = write_beir(tmp_path / "b")
    groups, _ = td.groups_from_beir(folder, "train", pool=5)
    out = tmp_path / "ce"
    cfg = tr.TrainConfig(max_length=48, batch_size=4, group_size=2, lr=1e-4, epochs=6, threads=1, loss="listwise")
    meta = tr.train(groups, out, cfg)
    assert meta["groups"] == 8 and meta["pairs"] == 16 and meta["steps"] == 24  # 2 groups of 2 per step, 6 epochs
    assert meta["loss_last"] < meta["loss_first"]
    rr = CrossEncoderReranker(out)
    hits = [Hit("volcano-2", 5.0, "An unrelated note that mentions a volcano only once among other words.", "Misc"),
            Hit("volcano-1", 1.0, "The volcano is described here in detail: facts about the volcano.", "Volcano")]
    ranked = rr.rerank("tell me about the volcano", hits)
    assert [h.doc_id for h in ranked] == ["volcano-1", "volcano-2"] and ranked[0].score > ranked[1].score + 1


@pytest.mark.integration
def test_each_loss_refuses_the_other_kind_of_example(tmp_path):
    group, pair = td.Group("q", "p", ["n"]), td.Pair("q", "p", 1.0)
    with pytest.raises(LadderError, match="listwise loss trains on groups"):
        tr.train([pair], tmp_path / "x", tr.TrainConfig(loss="listwise"))
    with pytest.raises(LadderError, match="pointwise loss trains on pairs"):
        tr.train([group], tmp_path / "x", tr.TrainConfig())
    with pytest.raises(LadderError, match="no training groups with hard negatives"):
        tr.train([td.Group("q", "p", [])], tmp_path / "x", tr.TrainConfig(loss="listwise"))
    with pytest.raises(LadderError, match="must fit in the batch"):
        tr.train([group], tmp_path / "x", tr.TrainConfig(loss="listwise", group_size=8, batch_size=4))
    with pytest.raises(LadderError, match="unknown loss 'pairwise'"):
        tr.train([pair], tmp_path / "x", tr.TrainConfig(loss="pairwise"))
    assert not (tmp_path / "x").exists()


@pytest.mark.integration
def test_cli_listwise_with_hybrid_negatives(tmp_path):
    folder = write_beir(tmp_path / "b")
    out = tmp_path / "ce"
    r = run_cli("train-reranker", str(folder), "--out", str(out), "--loss", "listwise", "--mine-with", "hybrid",
                "--group-size", "3", "--pool", "4", "--holdout", "2", "--epochs", "1", "--max-length", "32",
                "--batch-size", "6", "--threads", "1", "--json")
    assert r.returncode == 0, r.stderr
    meta = json.loads(r.stdout)
    assert meta["config"]["loss"] == "listwise" and meta["groups"] == 6 and meta["steps"] == 3
    assert meta["source"]["mined_with"] == "hybrid" and meta["source"]["embedder"] == "minilm"
    bad = run_cli("train-reranker", str(folder), "--out", str(out), "--loss", "listwise", "--teacher", "pointwise:x")
    assert bad.returncode == 2 and bad.stderr.strip() == "error: --teacher gives soft labels per pair: use it with --loss pointwise"
    early = run_cli("train-reranker", str(folder), "--out", str(tmp_path / "x"), "--tune-blend")  # fails before training
    assert early.returncode == 2 and "--tune-blend needs --holdout N" in early.stderr and not (tmp_path / "x").exists()

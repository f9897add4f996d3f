"""Fusion against the formulas worked by hand."""
import pytest

from ladder.errors import LadderError
from ladder.retrieval.fuse import fuse, fuse_hits, minmax, rrf, weighted
from ladder.retrieval.hit import Hit


def test_rrf_worked_example():
    out = dict(rrf([[("a", 9.0), ("b", 1.0)], [("b", 0.9), ("c", 0.1)]], k=60))
    assert out["a"] == pytest.approx(1 / 61)
    assert out["b"] == pytest.approx(1 / 62 + 1 / 61)
    assert out["c"] == pytest.approx(1 / 62)
    assert [k for k, _ in rrf([[("a", 9.0), ("b", 1.0)], [("b", 0.9), ("c", 0.1)]])] == ["b", "a", "c"]


def test_rrf_weights_scale_each_list():
    out = dict(rrf([[("a", 1.0)], [("b", 1.0)]], weights=[2.0, 1.0], k=0))
    assert out == {"a": 2.0, "b": 1.0}


def test_weighted_worked_example():
    out = weighted([[("a", 10.0), ("b", 5.0)], [("b", 0.9), ("c", 0.5)]], [0.5, 0.5])
    assert out == [("a", 0.5), ("b", 0.5), ("c", 0.0)]
    out = dict(weighted([[("a", 10.0), ("b", 5.0)], [("b", 0.9), ("c", 0.5)]], [0.2, 0.8]))
    assert out == pytest.approx({"a": 0.2, "b": 0.8, "c": 0.0})


def test_minmax():
    assert minmax([2.0, 4.0, 3.0]) == [0.0, 1.0, 0.5]
    assert minmax([3.0, 3.0]) == [1.0, 1.0]
    assert minmax([]) == []


def test_errors_list_choices():
    with pytest.raises(LadderError, match="choose one of: rrf, weighted"):
        fuse("borda", [])
    with pytest.raises(LadderError, match="2 rankings but 1 weights"):
        weighted([[("a", 1.0)], [("b", 1.0)]], [1.0])


def test_fuse_hits_keeps_passages_apart_and_titles():
    a = [Hit("d1", 3.0, "first", "T1"), Hit("d1", 2.0, "second", "T1")]
    b = [Hit("d1", 0.9, "second", "T1"), Hit("d2", 0.8, "other", "T2")]
    out = fuse_hits("rrf", [a, b], k=2)
    assert [(h.doc_id, h.text) for h in out] == [("d1", "second"), ("d1", "first")]
    assert out[0].score == pytest.approx(1 / 62 + 1 / 61) and out[0].title == "T1"

"""Torch threads in retrieval: one for a query, the bulk count for reranking and training, whatever ran before."""
from types import SimpleNamespace

import pytest

torch = pytest.importorskip("torch")

from ladder.retrieval import threads  # noqa: E402


@pytest.fixture
def fresh(monkeypatch):
    """A clean thread state with torch at 2 threads; torch's count is put back afterwards."""
    before = torch.get_num_threads()
    monkeypatch.setattr(threads, "_STATE", {})
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


def test_one_thread_for_a_query_then_the_bulk_count_again(fresh):
    threads.torch_threads(small=True)
    assert torch.get_num_threads() == 1
    threads.torch_threads(small=False)
    assert torch.get_num_threads() == 2


def test_a_count_set_elsewhere_becomes_the_bulk_count(fresh):
    threads.torch_threads(small=True)
    torch.set_num_threads(3)  # e.g. a caller's own choice, after the query
    threads.torch_threads(small=True)
    threads.torch_threads(small=False)
    assert torch.get_num_threads() == 3
    threads.set_bulk(1)  # a trainer's threads=1 holds even though the last query also left 1
    threads.torch_threads(small=False)
    assert torch.get_num_threads() == 1


class _Tok:
    bos_token_id, pad_token_id = None, 0

    def __call__(self, text, add_special_tokens=False):
        return {"input_ids": [1 + len(w) % 5 for w in text.split()]}


class _Body(torch.nn.Module):
    def __init__(self, seen):
        super().__init__()
        self.seen = seen

    def forward(self, input_ids, attention_mask):
        self.seen.append(torch.get_num_threads())
        return SimpleNamespace(last_hidden_state=torch.zeros(*input_ids.shape, 4))


def test_qlm_and_cross_encoder_score_on_the_bulk_count_after_a_query_embedding(fresh):
    from ladder.retrieval.cross_encoder import CrossEncoderReranker
    from ladder.retrieval.qlm import TorchScorer

    seen = []
    qlm = object.__new__(TorchScorer)
    qlm.model, qlm.tok = SimpleNamespace(model=_Body(seen), lm_head=torch.nn.Linear(4, 8)), _Tok()
    qlm.batch_size, qlm.max_tokens, qlm.tokens_in = 8, 512, 0
    ce = object.__new__(CrossEncoderReranker)
    ce.batch_size, ce.pairs, ce.seconds = 8, 0, 0.0
    ce.model = SimpleNamespace(predict=lambda pairs, **kw: seen.append(torch.get_num_threads()) or [0.0] * len(pairs))

    threads.torch_threads(small=True)  # what embedding the query leaves behind
    assert len(qlm.mean_logprobs(["Passage: a b c", "Passage: d e"], " who?")) == 2
    threads.torch_threads(small=True)
    ce.scores("who?", ["a b c", "d e"])
    assert seen == [2, 2]


def test_qlm_refuses_a_query_that_leaves_no_room_for_the_passage():
    from ladder.errors import LadderError
    from ladder.retrieval.qlm import TorchScorer

    qlm = object.__new__(TorchScorer)
    qlm.tok, qlm.max_tokens = _Tok(), 16
    with pytest.raises(LadderError, match="query is 9 tokens long; at most 8 fit"):
        qlm.mean_logprobs(["Passage: a"], " " + "word " * 9)

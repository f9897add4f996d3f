"""Query-likelihood reranking: the prompt, the ordering, the blend with the first stage, the real backends."""
import pytest

from ladder.errors import LadderError
from ladder.retrieval.hit import Hit
from ladder.retrieval.qlm import LlamaCppScorer, QueryLikelihood, factory, qlm_prefix
from ladder.testing import DummyModel

HITS = [
    Hit("d1", 3.0, "The Colosseum is an amphitheatre in Rome.", "Colosseum"),
    Hit("d2", 2.0, "Paris is the capital of France.", "Paris"),
    Hit("d3", 1.0, "Michelangelo painted the Sistine Chapel ceiling between 1508 and 1512.", "Sistine Chapel"),
]


class OverlapScorer:
    """A continuation scorer double: the share of the query's words found in the prefix, minus one
    (a mean log-prob is <= 0). Records what it was asked."""

    name = "overlap"

    def __init__(self):
        self.calls = []

    def mean_logprobs(self, prefixes, continuation):
        self.calls.append((list(prefixes), continuation))
        words = [w.strip("?.,").lower() for w in continuation.split()]
        return [sum(w in p.lower() for w in words) / len(words) - 1.0 for p in prefixes]


def test_prefix_puts_the_passage_before_the_instruction_and_clips_it():
    p = qlm_prefix(Hit("d", 0.0, " ".join(f"w{i}" for i in range(300)), "T"), max_words=5)
    assert p == "Passage: T. w0 w1 w2 w3 w4 ...\nWrite a question this passage answers:"
    assert qlm_prefix(Hit("d", 0.0, "short text", "")) == "Passage: short text\nWrite a question this passage answers:"


def test_qlm_orders_by_query_likelihood_and_counts_pairs():
    scorer = OverlapScorer()
    rr = QueryLikelihood(scorer)
    out = rr.rerank("who painted the sistine chapel ceiling?", HITS, k=2)
    assert [h.doc_id for h in out] == ["d3", "d1"]  # d1 and d2 tie at -1: the retriever's order
    assert out[0].score > out[1].score
    prefixes, cont = scorer.calls[0]
    assert cont == " who painted the sistine chapel ceiling?"  # one call per query: its pairs batched
    assert prefixes[2].startswith("Passage: Sistine Chapel. Michelangelo")
    assert rr.pairs == 3 and rr.name == "qlm:overlap"


def test_blend_weight_zero_keeps_the_first_stage_and_one_the_qlm_order():
    q = "capital of france"
    assert [h.doc_id for h in QueryLikelihood(OverlapScorer(), blend=0.0).rerank(q, HITS)] == ["d1", "d2", "d3"]
    assert [h.doc_id for h in QueryLikelihood(OverlapScorer(), blend=1.0).rerank(q, HITS)][0] == "d2"
    # a rank blend at 0.5 ties the two orders' reciprocal ranks: the reranker's order breaks the tie
    assert [h.doc_id for h in QueryLikelihood(OverlapScorer(), blend=0.5).rerank(q, HITS)][:2] == ["d2", "d1"]


def test_bad_options_are_one_clear_error():
    with pytest.raises(LadderError, match="between 0 and 1"):
        QueryLikelihood(OverlapScorer(), blend=1.5)
    with pytest.raises(LadderError, match="choose one of: rank, score"):
        QueryLikelihood(OverlapScorer(), blend_kind="max")
    with pytest.raises(LadderError, match="token log-probabilities"):
        LlamaCppScorer(DummyModel())  # a backend without log-probs cannot score a query
    with pytest.raises(LadderError, match="qlm backend"):
        factory("smollm2-135m", backend="onnx")


def test_qlm_is_in_the_reranker_registry():
    from ladder.retrieval.rerank import RERANKERS

    assert "qlm" in RERANKERS


@pytest.mark.integration
def test_both_backends_agree_and_prefer_the_answering_passage():
    """smollm2-135m through llama.cpp (4-bit GGUF) and torch (its dequantization, in fp32 and bf16): same
    scores within a small tolerance, and the passage that answers the question scores higher."""
    from ladder.retrieval.qlm import make_scorer

    q = " Who painted the ceiling of the Sistine Chapel?"
    prefixes = [qlm_prefix(h) for h in HITS]
    a = make_scorer("smollm2-135m", "llamacpp").mean_logprobs(prefixes, q)
    b = make_scorer("smollm2-135m", "torch", dtype="fp32").mean_logprobs(prefixes, q)
    c = make_scorer("smollm2-135m", "torch", dtype="bf16").mean_logprobs(prefixes, q)
    assert all(x < 0 for x in a + b + c)
    assert max(abs(x - y) for x, y in zip(a, b)) < 0.15
    assert max(abs(x - y) for x, y in zip(b, c)) < 0.1  # bf16 weights: the same scores, give or take
    assert a[2] > max(a[:2]) and b[2] > max(b[:2]) and c[2] > max(c[:2])


def test_factory_reads_the_dtype_from_the_environment_and_names_it_when_bad(monkeypatch):
    from ladder.errors import InputError

    monkeypatch.setenv("LADDER_QLM_DTYPE", "fp16")
    with pytest.raises(InputError, match="LADDER_QLM_DTYPE: unknown dtype 'fp16'"):
        factory("smollm2-135m")

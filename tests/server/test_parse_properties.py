"""Property tests: any JSON body gives a parsed request or an APIError (a 4xx), never another exception."""
import json

from hypothesis import given, settings
from hypothesis import strategies as st

from ladder.server.chat import parse_chat, parse_json
from ladder.server.errors import APIError
from ladder.server.search import search_args

scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20)
values = st.recursive(scalars, lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=8), c, max_size=4),
                      max_leaves=12)
messages = st.lists(st.fixed_dictionaries({"role": st.sampled_from(["user", "system", "assistant", 3]),
                                           "content": values}), max_size=3)
bodies = st.dictionaries(st.sampled_from(["model", "messages", "max_tokens", "n", "stream", "stream_options",
                                          "max_completion_tokens", "query", "question", "k", "method", "rerank",
                                          "candidates"]),
                         values | messages, max_size=6)


@settings(max_examples=300, deadline=None)
@given(bodies, st.sampled_from([["text"], ["q", "ctx"]]))
def test_chat_parsing_gives_a_request_or_an_api_error(body, fields):
    try:
        req = parse_chat(body, fields, 512)
    except APIError as e:
        assert 400 <= e.status < 500 and e.message
        return
    assert isinstance(req.fields, dict) and (req.max_tokens is None or 1 <= req.max_tokens <= 512)


@settings(max_examples=200, deadline=None)
@given(bodies, st.sampled_from([None, "the server's reranker"]))
def test_search_parsing_gives_arguments_or_an_api_error(body, reranker):
    try:
        a = search_args(body, "query", reranker)
    except APIError as e:
        assert e.status == 400
        return
    assert a.text.strip() and 1 <= a.k <= 50 and a.method in ("hybrid", "bm25", "dense")
    assert a.reranker in (None, reranker) and a.k <= a.candidates <= 100


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=64) | values.map(lambda v: json.dumps(v).encode()))
def test_body_decoding_gives_an_object_or_an_api_error(raw):
    try:
        assert isinstance(parse_json(raw), dict)
    except APIError as e:
        assert e.status == 400

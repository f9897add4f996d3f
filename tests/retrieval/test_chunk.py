"""Chunkers: the worked examples, packing, and the title kept with each passage."""
import pytest

from ladder.errors import LadderError
from ladder.retrieval.chunk import Chunk, Chunking, chunk_docs, sentence_windows, split_sentences


def test_sentence_window_worked_example():
    assert sentence_windows("A b c. D e f. G h.", max_words=6, overlap=1) == ["A b c. D e f.", "D e f. G h."]


def test_sentence_windows_without_overlap_partition_the_text():
    text = "One two. Three four. Five six. Seven eight."
    wins = sentence_windows(text, max_words=4, overlap=0)
    assert wins == ["One two. Three four.", "Five six. Seven eight."]
    assert " ".join(wins) == text


def test_a_sentence_longer_than_the_window_is_kept_whole():
    assert sentence_windows("A b c d e f. G.", max_words=2, overlap=1) == ["A b c d e f.", "G."]


def test_split_sentences_keeps_abbreviation_free_text():
    assert split_sentences("It rained. Then it stopped! Did it? Yes.") == ["It rained.", "Then it stopped!", "Did it?", "Yes."]


def test_paragraph_packing_and_long_paragraph_fallback():
    doc = {"id": "d", "title": "T", "text": "p one.\n\np two.\n\n" + " ".join(f"W{i}." for i in range(10))}
    chunks = list(chunk_docs([doc], Chunking("paragraph", max_words=4, overlap=0)))
    assert chunks[0] == Chunk("d", "T", "p one.\n\np two.")
    assert [c.text for c in chunks[1:]] == ["W0. W1. W2. W3.", "W4. W5. W6. W7.", "W8. W9."]
    assert all(c.title == "T" and c.doc_id == "d" for c in chunks)


def test_none_keeps_documents_whole_and_drops_empty_ones():
    docs = [{"id": 1, "title": "", "text": "x y"}, {"id": 2, "title": "", "text": "  "}]
    assert list(chunk_docs(docs, Chunking("none"))) == [Chunk("1", "", "x y")]


def test_unknown_chunking_lists_the_choices():
    with pytest.raises(LadderError, match="choose one of: none, paragraph, sentence"):
        list(chunk_docs([], Chunking("tokens")))

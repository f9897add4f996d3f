"""Byte-level BPE trained on a corpus: lossless, loadable by transformers, clear errors."""
import pytest

pytest.importorskip("tokenizers")

from ladder.errors import LadderError
from ladder.train.tokenizer import END, PAD, gguf_vocab, load_tokenizer, save_tokenizer, train_tokenizer


@pytest.fixture(scope="module")
def tok(wiki_rows):
    return train_tokenizer([r["text"] for r in wiki_rows(200)], vocab_size=800)


SAMPLES = ["Héllo wörld — 🚀 it's 3.14!\n\n  New paragraph\ttab", "日本語のテキスト", "", " leading space", "a" * 300]


@pytest.mark.parametrize("text", SAMPLES)
def test_round_trip_is_lossless(tok, text):
    assert tok.decode(tok.encode(text).ids) == text


def test_vocab_and_specials(tok):
    assert tok.get_vocab_size() == 800
    assert tok.token_to_id(END) == 0 and tok.token_to_id(PAD) == 1
    # merges learned from the corpus compress common English below one token per character
    text = "The history of the city in the twentieth century"
    assert len(tok.encode(text).ids) < len(text) / 2


def test_transformers_loads_the_saved_tokenizer_identically(tok, tmp_path):
    from transformers import AutoTokenizer

    save_tokenizer(tok, tmp_path)
    hf = AutoTokenizer.from_pretrained(str(tmp_path))
    for text in SAMPLES:
        assert hf(text)["input_ids"] == tok.encode(text).ids
        assert hf.decode(hf(text)["input_ids"]) == text
    assert (hf.eos_token_id, hf.bos_token_id, hf.pad_token_id) == (0, 0, 1)
    assert load_tokenizer(tmp_path).encode(SAMPLES[0]).ids == tok.encode(SAMPLES[0]).ids


def test_gguf_vocab_is_dense_with_merges(tok):
    tokens, types, merges = gguf_vocab(tok)
    assert len(tokens) == len(types) == 800
    assert tokens[0] == END and types[0] == 3 and types[300] == 1  # CONTROL, NORMAL
    assert len(merges) == 800 - 256 - 2  # every non-byte, non-special token is one merge
    assert all(len(m.split(" ")) == 2 for m in merges)


def test_too_small_corpus_is_refused_with_the_numbers():
    with pytest.raises(LadderError, match=r"corpus too small.*120 characters in 2 documents"):
        train_tokenizer(["x" * 60, "y" * 60], vocab_size=500)


def test_too_small_vocab_is_refused(wiki_rows):
    with pytest.raises(LadderError, match="--vocab-size"):
        train_tokenizer([r["text"] for r in wiki_rows(20)], vocab_size=100)


def test_missing_tokenizer_names_the_next_step(tmp_path):
    with pytest.raises(LadderError, match="ladder pretrain"):
        load_tokenizer(tmp_path)

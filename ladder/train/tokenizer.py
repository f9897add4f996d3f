"""A byte-level BPE tokenizer trained on the user's corpus (HF `tokenizers`).

GPT-2's scheme, chosen because every runtime we serve with speaks it exactly:
- bytes are mapped to printable characters first, so any UTF-8 text encodes
  (no <unk>, nothing lost) and `decode(encode(s)) == s`;
- the GPT-2 split regex runs before merges; llama.cpp implements the same regex
  as its "gpt-2" pre-tokenizer, so the exported GGUF tokenizes like training did;
- one special token, END, separates documents and doubles as BOS/EOS.

Saved as `tokenizer.json` + `tokenizer_config.json`, which
`transformers.AutoTokenizer.from_pretrained(folder)` loads as a fast tokenizer.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Iterable

from ladder.errors import LadderError
from ladder.manifest import atomic_file

END = "<|endoftext|>"  # id 0: document separator, BOS and EOS
PAD = "<|pad|>"  # id 1: never trained on; lets batching code pad without inventing ids
SPECIALS = [END, PAD]
MIN_CORPUS_CHARS = 2_000  # below this a BPE learns nothing useful beyond the byte alphabet


def train_tokenizer(texts: Iterable[str], vocab_size: int = 8192, min_frequency: int = 2):
    """Learn merges on `texts`; returns a `tokenizers.Tokenizer`.

    `vocab_size` counts the 256 byte symbols and the specials; the trainer may
    stop below it when the corpus has no more pairs seen `min_frequency` times.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    if vocab_size < 256 + len(SPECIALS) + 1:
        raise LadderError(f"--vocab-size: {vocab_size} is too small; byte-level BPE needs at least 259")
    texts = list(texts)
    n_chars = sum(len(t) for t in texts)
    if n_chars < MIN_CORPUS_CHARS:
        raise LadderError(
            f"corpus too small to train a tokenizer: {n_chars:,} characters in {len(texts)} documents "
            f"(need at least {MIN_CORPUS_CHARS:,}); add documents or continue pretraining a bundled base with --from"
        )
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        special_tokens=SPECIALS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    assert tok.token_to_id(END) == 0 and tok.token_to_id(PAD) == 1, "specials must come first"
    assert tok.get_vocab_size() >= 256 + len(SPECIALS), "every byte must be a token"
    return tok


def save_tokenizer(tok, folder: str | Path, model_max_length: int = 2048) -> Path:
    """Write tokenizer.json and tokenizer_config.json (transformers' layout) into `folder`."""
    folder = Path(folder)
    with atomic_file(folder / "tokenizer.json") as tmp:
        tok.save(str(tmp))
    config = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "bos_token": END,
        "eos_token": END,
        "pad_token": PAD,
        "add_bos_token": False,
        "model_max_length": model_max_length,
        "clean_up_tokenization_spaces": False,
    }
    (folder / "tokenizer_config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    return folder / "tokenizer.json"


def load_tokenizer(folder: str | Path):
    """The `tokenizers.Tokenizer` saved by `save_tokenizer` in `folder`."""
    from tokenizers import Tokenizer

    path = Path(folder) / "tokenizer.json"
    if not path.exists():
        raise LadderError(f"{path}: no tokenizer here; train one with 'ladder pretrain corpus.jsonl --scratch'")
    return Tokenizer.from_file(str(path))


def gguf_vocab(tok) -> tuple[list[str], list[int], list[str]]:
    """Tokens in id order, their GGUF token types, and the merges, for a "gpt2" GGUF tokenizer."""
    import gguf

    vocab = tok.get_vocab(with_added_tokens=True)
    assert sorted(vocab.values()) == list(range(len(vocab))), "token ids must be dense"
    tokens = [""] * len(vocab)
    for text, i in vocab.items():
        tokens[i] = text
    types = [int(gguf.TokenType.CONTROL if t in SPECIALS else gguf.TokenType.NORMAL) for t in tokens]
    model = json.loads(tok.to_str())["model"]
    merges = [m if isinstance(m, str) else " ".join(m) for m in model["merges"]]
    return tokens, types, merges

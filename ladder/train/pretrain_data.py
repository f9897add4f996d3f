"""Text for pretraining: read a corpus, hold documents out, tokenize, cut training windows.

Corpus specs: a JSONL file of {"text"} or {"title", "text"} rows; a folder built
by `ladder index` (its passages, regrouped per document); or anything
`ladder.retrieval.corpus.load_corpus` reads (a BEIR folder, a MediaWiki dump,
"wikipedia" for the bundled Vital Articles).
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

from ladder.errors import LadderError

MIN_DOCS = 2  # one to train on, one to measure held-out perplexity on


def _join(title: str, text: str) -> str:
    title, text = (title or "").strip(), (text or "").strip()
    return f"{title}\n\n{text}" if title and text and not text.startswith(title) else (text or title)


def read_jsonl_texts(path: Path) -> list[str]:
    from ladder.task import iter_jsonl

    texts: list[str] = []
    for n, row in iter_jsonl(path):
        if not isinstance(row, dict) or not isinstance(row.get("text"), str):
            raise LadderError(f"{path}:{n}: expected an object with a string field 'text' (and optionally 'title')")
        texts.append(_join(str(row.get("title") or ""), row["text"]))
    return texts


def read_index_texts(folder: Path) -> list[str]:
    """Documents of a `ladder index` folder: its passages joined back per doc_id, in index order."""
    from ladder.retrieval.index import read_manifest

    manifest = read_manifest(folder)
    if manifest.get("backend", "local") != "local":
        raise LadderError(f"{folder}: a {manifest.get('backend')} index keeps its passages in a server; "
                          f"pretrain on its corpus file instead ({manifest.get('corpus') or 'the .jsonl it was built from'})")
    docs: dict[str, tuple[str, list[str]]] = {}
    with open(folder / "passages.jsonl", encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            try:
                row = json.loads(line)
                docs.setdefault(str(row["doc_id"]), (row.get("title") or "", []))[1].append(row["text"])
            except (json.JSONDecodeError, KeyError, TypeError):
                raise LadderError(f"{folder}/passages.jsonl:{n}: damaged passage row; rebuild with 'ladder index'") from None
    return [_join(title, "\n".join(parts)) for title, parts in docs.values()]


def load_texts(spec: str) -> list[str]:
    """Non-empty, de-duplicated document texts of a corpus, in file order."""
    p = Path(spec)
    if p.is_dir() and (p / "manifest.json").is_file():
        texts = read_index_texts(p)
    elif p.is_file() and p.suffix in (".jsonl", ".json"):
        texts = read_jsonl_texts(p)
    else:
        from ladder.retrieval.corpus import load_corpus

        texts = [_join(d.get("title", ""), d.get("text", "")) for d in load_corpus(spec)]
    seen: set[str] = set()
    out = []
    for t in texts:
        if t.strip() and t not in seen:  # a duplicate could straddle train and held-out
            seen.add(t)
            out.append(t)
    if not out:
        raise LadderError(f"{spec}: the corpus is empty; add JSONL lines like {{\"title\": ..., \"text\": ...}}")
    return out


def split_heldout(texts: list[str], fraction: float, where: str = "corpus") -> tuple[list[str], list[str]]:
    """(train, held_out) by a hash of each text: stable across runs and machines, independent of order.

    >>> train, held = split_heldout([f"document {i}" for i in range(100)], 0.1)
    >>> len(train) + len(held), 4 <= len(held) <= 16, set(train).isdisjoint(held)
    (100, True, True)
    """
    if len(texts) < MIN_DOCS:
        raise LadderError(f"{where}: corpus too small: {len(texts)} document(s); need at least {MIN_DOCS} "
                          "(one is held out to measure perplexity)")
    keyed = sorted(((int(hashlib.sha256(t.encode()).hexdigest()[:12], 16) / 16**12, t) for t in texts))
    held = {t for u, t in keyed if u < fraction} or {keyed[0][1]}
    if len(held) == len(texts):
        held.discard(keyed[-1][1])
    train = [t for t in texts if t not in held]
    assert train and held and not set(train) & held
    return train, [t for t in texts if t in held]


def encode_docs(hf_tokenizer, texts: list[str]) -> list[list[int]]:
    """Token ids per document with the model's own specials (BOS when it uses one) and EOS at the end."""
    ids = hf_tokenizer(texts, add_special_tokens=True, verbose=False)["input_ids"]
    eos = hf_tokenizer.eos_token_id
    return [list(x) + ([eos] if eos is not None and (not x or x[-1] != eos) else []) for x in ids]


def batch_at(stream, step: int, batch: int, seq: int, seed: int, bos: int | None = None):
    """Windows for `step`: (x, y) each (batch, seq); y is x shifted by one token. Same step -> same batch."""
    import torch

    g = torch.Generator().manual_seed(seed * 1_000_003 + step)
    starts = torch.randint(0, len(stream) - seq - 1 + 1, (batch,), generator=g)
    rows = torch.stack([stream[s: s + seq + 1] for s in starts.tolist()])  # (B, T+1)
    x, y = rows[:, :-1].clone(), rows[:, 1:]
    if bos is not None:  # models served with a BOS first (Gemma) misbehave on windows that start without one
        x[:, 0] = bos
    return x, y


def bos_token(hf_tokenizer) -> int | None:
    """The BOS id when the tokenizer puts one before every text (Gemma, Llama), else None (SmolLM2, Qwen)."""
    bos = hf_tokenizer.bos_token_id
    ids = hf_tokenizer("a", add_special_tokens=True)["input_ids"]
    return bos if bos is not None and ids and ids[0] == bos else None

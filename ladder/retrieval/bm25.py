"""Keyword search: a thin layer over bm25s (index, query, save/load without pickle).

The tokenizer is bm25s's (scikit-learn word pattern, English stopwords) with
an optional PyStemmer stemmer picked by language name; the name is saved with
the index so queries are tokenised the same way as the documents.
"""
from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Sequence

import numpy as np

from ladder.errors import LadderError

PARAMS_FILE = "ladder_bm25.json"


@lru_cache(maxsize=4)
def _stemmer(language: str | None):
    if not language:
        return None
    import Stemmer

    try:
        return Stemmer.Stemmer(language)
    except KeyError:
        raise LadderError(
            f"unknown stemmer language '{language}'; choose one of: {', '.join(Stemmer.algorithms())}, or none"
        ) from None


class BM25:
    """`BM25(stemmer="english").index(texts)`, then `.search(queries, k) -> (ids, scores)`."""

    def __init__(self, stemmer: str | None = "english", stopwords: str | None = "en",
                 k1: float = 1.5, b: float = 0.75, method: str = "lucene"):
        self.stemmer, self.stopwords = stemmer or None, stopwords or None
        self.k1, self.b, self.method = k1, b, method
        self.model = None  # bm25s.BM25
        self.n_docs = 0

    def tokenize(self, texts: Sequence[str], progress: bool = False):
        import bm25s

        return bm25s.tokenize(list(texts), stopwords=self.stopwords, stemmer=_stemmer(self.stemmer),
                              show_progress=progress)

    def index(self, texts: Sequence[str], progress: bool = False) -> "BM25":
        import bm25s

        if not texts:
            raise LadderError("nothing to index: the corpus has no passages")
        self.model = bm25s.BM25(k1=self.k1, b=self.b, method=self.method)
        self.model.index(self.tokenize(texts, progress), show_progress=progress)
        self.n_docs = len(texts)
        return self

    def search(self, queries: Sequence[str], k: int = 10) -> tuple[np.ndarray, np.ndarray]:
        """Top-k passage positions and scores per query, shape (len(queries), k').

        k' = min(k, number of passages). A query with no known words gets
        all-zero scores (bm25s then returns arbitrary positions; callers drop
        zero-score rows).
        """
        import bm25s

        k = min(k, self.n_docs)
        tokens = bm25s.tokenize(list(queries), stopwords=self.stopwords, stemmer=_stemmer(self.stemmer),
                                return_ids=False, show_progress=False)
        ids, scores = self.model.retrieve(tokens, k=k, show_progress=False, n_threads=0)
        return ids, scores

    def scores(self, query: str) -> np.ndarray:
        """BM25 score of one query against every passage, shape (n_passages,)."""
        import bm25s

        tokens = bm25s.tokenize([query], stopwords=self.stopwords, stemmer=_stemmer(self.stemmer),
                                return_ids=False, show_progress=False)[0]
        return np.asarray(self.model.get_scores(tokens), dtype=np.float32)

    def save(self, out_dir: Path) -> None:
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        self.model.save(str(out_dir), allow_pickle=False)
        params = {"stemmer": self.stemmer, "stopwords": self.stopwords, "k1": self.k1, "b": self.b,
                  "method": self.method, "n_docs": self.n_docs}
        (out_dir / PARAMS_FILE).write_text(json.dumps(params, indent=1))

    @classmethod
    def load(cls, in_dir: Path, mmap: bool = False) -> "BM25":
        """Load a saved index; a missing, unreadable or inconsistent file is a LadderError naming it."""
        import bm25s

        in_dir = Path(in_dir)
        fix = "rebuild the index with 'ladder index'"
        params = in_dir / PARAMS_FILE
        if not params.is_file():
            raise LadderError(f"{in_dir}: not a ladder BM25 index ({PARAMS_FILE} missing); {fix}")
        try:
            p = json.loads(params.read_bytes())
            self = cls(p["stemmer"], p["stopwords"], p["k1"], p["b"], p["method"])
            n_docs = p["n_docs"]
        except (OSError, ValueError, UnicodeDecodeError, KeyError, TypeError, IndexError) as e:
            raise LadderError(f"{params}: damaged BM25 settings ({type(e).__name__}: {e}); {fix}") from None
        if not (isinstance(n_docs, int) and n_docs >= 0 and isinstance(self.k1, (int, float))
                and isinstance(self.b, (int, float)) and isinstance(self.stemmer, (str, type(None)))
                and isinstance(self.stopwords, (str, type(None))) and isinstance(self.method, str)):
            raise LadderError(f"{params}: damaged BM25 settings (a value has the wrong type); {fix}")
        try:  # the stemmer and stopword names must be ones queries can be tokenised with
            self.tokenize(["probe"])
        except Exception as e:  # bm25s raises ValueError for unknown stopwords, PyStemmer KeyError
            raise LadderError(f"{params}: damaged BM25 settings (stemmer {self.stemmer!r}, stopwords "
                              f"{self.stopwords!r}: {str(e)[:120]}); {fix}") from None
        try:
            self.model = bm25s.BM25.load(str(in_dir), mmap=mmap, allow_pickle=False, show_progress=False)
            sc = self.model.scores
            top = len(sc["indptr"]) - 1  # bm25s refuses query token ids >= this; '' (never queried) may hold it
            consistent = (sc["num_docs"] == n_docs and len(sc["data"]) == len(sc["indices"])
                          and len(sc["indptr"]) - len(self.model.vocab_dict) in (0, 1)
                          and all(isinstance(i, int) and 0 <= i < (top + 1 if not w else top)
                                  for w, i in self.model.vocab_dict.items())
                          and (not len(sc["indices"]) or 0 <= int(sc["indices"].min()) <= int(sc["indices"].max()) < n_docs))
        except Exception as e:  # bm25s reading damaged files raises anything from OSError to orjson errors
            raise LadderError(f"{in_dir}: damaged BM25 files ({type(e).__name__}: {str(e)[:200]}); {fix}") from None
        if not consistent:
            raise LadderError(f"{in_dir}: BM25 arrays do not match its {n_docs} passages; {fix}")
        self.n_docs = n_docs
        try:  # one query through the loaded index, so damaged settings fail here and not at the first search
            if n_docs:
                self.search(["probe query"], 1)
        except Exception as e:  # e.g. bm25s's params.index.json naming a dtype numpy does not know
            raise LadderError(f"{in_dir}: damaged BM25 files ({type(e).__name__}: {str(e)[:200]}); {fix}") from None
        return self

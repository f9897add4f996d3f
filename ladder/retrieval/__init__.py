"""Search: corpora, keyword/dense/hybrid retrieval, reranking. Every retriever and reranker returns list[Hit]."""

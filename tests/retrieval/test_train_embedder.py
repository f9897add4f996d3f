"""Fine-tuning the dense embedder on BEIR train qrels: never test, learns, saves a loadable folder."""
import pytest

from ladder.errors import LadderError
from ladder.retrieval import train_embedder as te
from tests.retrieval.test_rerank_cross_encoder import TOPICS, write_beir


def test_triples_come_from_train_with_hard_negatives(tmp_path):
    folder = write_beir(tmp_path / "b")
    triples, held = te.triples_from_beir(folder, "train", negatives=1, holdout=2)
    assert len(triples) == 6 and len(held) == 2  # 8 train queries, 2 held out
    assert all("comet" not in t.query and "coral" not in t.query for t in triples)  # test queries never used
    held_topics = {TOPICS[int(q[1:])] for q in held}  # query "q<i>" asks about TOPICS[i]
    assert not held_topics & {t.query.split()[-1] for t in triples}
    for t in triples:
        assert len(t.negatives) == 1 and t.negatives[0] != t.positive
    with pytest.raises(LadderError, match="test split"):
        te.triples_from_beir(folder, "test")


@pytest.mark.integration
def test_training_pulls_queries_toward_their_documents(tmp_path):
    import numpy as np
    from sentence_transformers import SentenceTransformer

    folder = write_beir(tmp_path / "b")
    triples, _ = te.triples_from_beir(folder, "train", negatives=1)
    out = tmp_path / "emb"
    cfg = te.EmbedderConfig(epochs=8, batch_size=4, lr=1e-4, max_length=32, threads=1)
    meta = te.train_embedder(triples, out, cfg, source={"what": "tiny"})
    assert meta["triples"] == 8 and meta["loss_last"] < meta["loss_first"]
    assert not list(tmp_path.glob("emb.tmp*"))

    def margin(model):  # similarity to the relevant doc minus to the hard negative, averaged
        q = model.encode([t.query for t in triples], normalize_embeddings=True)
        p = model.encode([t.positive for t in triples], normalize_embeddings=True)
        n = model.encode([t.negatives[0] for t in triples], normalize_embeddings=True)
        return float(np.mean((q * p).sum(1) - (q * n).sum(1)))

    from ladder.retrieval.cross_encoder import bundled_minilm

    before = margin(SentenceTransformer(bundled_minilm(), device="cpu"))
    after = margin(SentenceTransformer(str(out), device="cpu"))  # a plain sentence-transformers folder
    assert after > before


@pytest.mark.integration
def test_cli_trains_and_refuses_a_folder_without_qrels(tmp_path):
    import json
    import subprocess
    import sys

    folder = write_beir(tmp_path / "b")
    out = tmp_path / "emb"
    r = subprocess.run([sys.executable, "-m", "ladder", "train-embedder", str(folder), "--out", str(out), "--epochs", "1",
                        "--batch-size", "4", "--max-length", "32", "--threads", "1", "--json"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["triples"] == 8 and (out / "ladder_embedder.json").exists()
    bad = subprocess.run([sys.executable, "-m", "ladder", "train-embedder", str(tmp_path), "--out", str(out)],
                         capture_output=True, text=True)
    assert bad.returncode == 2 and "corpus.jsonl" in bad.stderr and "Traceback" not in bad.stderr

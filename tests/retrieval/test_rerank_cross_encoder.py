"""Cross-encoder: training data from a BEIR split (never test), training from MiniLM, loading, ranking."""
import json
from pathlib import Path

import pytest

from ladder.errors import LadderError
from ladder.retrieval import cross_encoder as ce
from ladder.retrieval import train_data as td
from ladder.retrieval import train_reranker as tr
from ladder.retrieval.hit import Hit
from ladder.testing import run_cli

TOPICS = ["volcano", "penguin", "violin", "glacier", "satellite", "orchid", "pyramid", "tornado", "comet", "coral"]


def write_beir(root: Path, test_overlap: bool = False) -> Path:
    docs = []
    for t in TOPICS:
        docs.append({"_id": f"{t}-1", "title": t.title(), "text": f"The {t} is described here in detail: facts about the {t}."})
        docs.append({"_id": f"{t}-2", "title": "Misc", "text": f"An unrelated note that mentions a {t} only once among other words."})
    queries = [{"_id": f"q{i}", "text": f"tell me about the {t}"} for i, t in enumerate(TOPICS)]
    (root / "qrels").mkdir(parents=True)
    (root / "corpus.jsonl").write_text("".join(json.dumps(d) + "\n" for d in docs))
    (root / "queries.jsonl").write_text("".join(json.dumps(q) + "\n" for q in queries))
    train = [f"q{i}\t{t}-1\t1" for i, t in enumerate(TOPICS[:8])]
    test = [f"q{i}\t{t}-1\t1" for i, t in enumerate(TOPICS) if i >= 8 or (test_overlap and i == 0)]
    (root / "qrels" / "train.tsv").write_text("query-id\tcorpus-id\tscore\n" + "\n".join(train) + "\n")
    (root / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\n" + "\n".join(test) + "\n")
    return root


def test_pairs_from_beir_uses_train_qrels_and_hard_negatives(tmp_path):
    folder = write_beir(tmp_path / "b")
    pairs, _ = td.pairs_from_beir(folder, "train", negatives=2, pool=5)
    pos = [p for p in pairs if p.label == 1.0]
    neg = [p for p in pairs if p.label == 0.0]
    assert len(pos) == 8 and 8 <= len(neg) <= 16
    assert all("comet" not in p.query and "coral" not in p.query for p in pairs)  # test queries never used
    assert all(p.passage.startswith(("Volcano", "Penguin", "Violin", "Glacier", "Satellite", "Orchid", "Pyramid", "Tornado"))
               for p in pos)
    for p in neg:  # a negative is never the query's relevant document
        topic = p.query.split()[-1]
        assert p.passage != ce.passage_text(topic.title(), f"The {topic} is described here in detail: facts about the {topic}.")


def test_training_on_test_is_refused(tmp_path):
    folder = write_beir(tmp_path / "b", test_overlap=True)
    with pytest.raises(LadderError, match="test split"):
        td.pairs_from_beir(folder, "test")
    with pytest.raises(LadderError, match="training queries are test queries"):
        td.pairs_from_beir(folder, "train")


def test_missing_beir_files_name_the_file(tmp_path):
    with pytest.raises(LadderError, match="corpus.jsonl"):
        td.pairs_from_beir(tmp_path, "train")


@pytest.mark.integration
def test_train_save_load_and_rank(tmp_path):
    folder = write_beir(tmp_path / "b")
    pairs, _ = td.pairs_from_beir(folder, "train", negatives=2, pool=5)
    out = tmp_path / "ce"
    cfg = tr.TrainConfig(max_length=48, batch_size=8, lr=1e-4, epochs=6, warmup=0.1, threads=1)
    meta = tr.train(pairs, out, cfg, source={"what": "tiny"})
    assert meta["steps"] == meta["total_steps"] and meta["pairs"] == len(pairs)
    assert meta["loss_last"] < meta["loss_first"]  # it learned something on an easy task
    assert (out / "model.safetensors").exists() and not list(tmp_path.glob("ce.tmp*"))
    assert ce.read_meta(out)["source"] == {"what": "tiny"}

    from sentence_transformers import CrossEncoder  # a plain sentence-transformers folder

    assert CrossEncoder(str(out), device="cpu").predict([("a", "b")]).shape == (1,)
    rr = ce.CrossEncoderReranker(out)
    hits = [Hit("volcano-2", 5.0, "An unrelated note that mentions a volcano only once among other words.", "Misc"),
            Hit("volcano-1", 1.0, "The volcano is described here in detail: facts about the volcano.", "Volcano")]
    ranked = rr.rerank("tell me about the volcano", hits)
    assert [h.doc_id for h in ranked] == ["volcano-1", "volcano-2"]
    assert ranked[0].score > ranked[1].score and rr.pairs == 2

    from ladder.retrieval.rerank import load_reranker

    by_dir = load_reranker(str(out))
    assert by_dir.rerank("tell me about the volcano", hits, k=1)[0].doc_id == "volcano-1"
    assert by_dir.pairs == 2  # both candidates scored, one kept
    assert by_dir.blend is None

    tuning = tr.tune_blend(out, folder, ["q0", "q1", "q2"], depth=5)
    assert tuning["weight"] in tr.BLEND_WEIGHTS and tuning["n_queries"] == 3 and tuning["kind"] in ("rank", "score")
    assert set(tuning["ndcg@10_by_blend"]) == {f"{k}:{w}" for k in ("rank", "score") for w in tr.BLEND_WEIGHTS}
    assert tuning["ndcg@10_by_blend"][f"{tuning['kind']}:{tuning['weight']}"] == max(tuning["ndcg@10_by_blend"].values())
    gain, by = tuning["gain_over_retriever"], tuning["ndcg@10_by_blend"]  # paired, against weight 0
    assert gain["mean"] == pytest.approx(by[f"{tuning['kind']}:{tuning['weight']}"] - by["rank:0.0"], abs=2e-4)
    assert gain["ci95_paired"][0] <= gain["mean"] <= gain["ci95_paired"][1]
    loaded = load_reranker(f"cross-encoder:{out}")  # saved with the model
    assert (loaded.blend, loaded.blend_kind) == (tuning["weight"], tuning["kind"])
    with pytest.raises(LadderError, match="test"):
        tr.tune_blend(out, folder, ["q9"])  # a test query


@pytest.mark.integration
def test_training_needs_both_labels(tmp_path):
    with pytest.raises(LadderError, match="both relevant and non-relevant"):
        tr.train([td.Pair("q", "p", 1.0)], tmp_path / "x")


@pytest.mark.integration
def test_not_a_cross_encoder_folder(tmp_path):
    with pytest.raises(LadderError, match="config.json missing"):
        ce.CrossEncoderReranker(tmp_path)


def test_teacher_labels_become_soft_pairs():
    class Teacher:
        def relevance(self, q, hits):
            return [0.9 if "gold" in h.text else 0.2 for h in hits]

    hits = [Hit("a", 1.0, "gold text", "T"), Hit("b", 0.5, "other", "")]
    pairs = td.pairs_from_teacher(["q1", "q2"], lambda q: hits, Teacher())
    assert [p.label for p in pairs] == [0.9, 0.2, 0.9, 0.2]
    assert pairs[0].passage == "T. gold text" and pairs[1].passage == "other"


def test_cli_refuses_the_test_split(tmp_path):
    folder = write_beir(tmp_path / "b")
    r = run_cli("train-reranker", str(folder), "--split", "test", "--out", str(tmp_path / "ce"))
    assert r.returncode == 2 and r.stderr.startswith("error: refusing to train on the test split")
    assert not (tmp_path / "ce").exists()


@pytest.mark.integration
def test_cli_trains_and_reports_json(tmp_path):
    folder = write_beir(tmp_path / "b")
    out = tmp_path / "ce"
    r = run_cli("train-reranker", str(folder), "--out", str(out), "--holdout", "2", "--negatives", "1",
                "--epochs", "0.5", "--max-length", "32", "--batch-size", "4", "--threads", "1", "--json")
    assert r.returncode == 0, r.stderr
    meta = json.loads(r.stdout)
    assert meta["out"] == str(out) and meta["pairs"] == 12  # 6 training queries x (1 relevant + 1 negative)
    assert len(meta["source"]["holdout_query_ids"]) == 2
    assert (out / "config.json").exists() and ce.read_meta(out)["steps"] == meta["steps"]


@pytest.mark.integration
def test_cli_tunes_the_blend_on_held_out_queries(tmp_path):
    folder = write_beir(tmp_path / "b")
    out = tmp_path / "ce"
    r = run_cli("train-reranker", str(folder), "--out", str(out), "--holdout", "2", "--negatives", "1", "--tune-blend",
                "--epochs", "0.5", "--max-length", "32", "--batch-size", "4", "--threads", "1")
    assert r.returncode == 0, r.stderr
    meta = ce.read_meta(out)
    t = meta["blend_tuning"]
    assert (meta["blend_kind"], meta["blend_weight"]) == (t["kind"], t["weight"]) and t["embedder"] == "minilm"
    assert t["n_queries"] == 2 and f"blend: {t['kind']}, cross-encoder weight {t['weight']}" in r.stdout
    g = t["gain_over_retriever"]
    assert f"gain {g['mean']:+.3f} [{g['ci95_paired'][0]:+.3f}" in r.stdout
    assert ("has not shown a gain" in r.stdout) == (g["ci95_paired"][0] <= 0)
    steps = [ln for ln in r.stderr.splitlines() if ln.startswith("training: step")]  # a log, not a terminal: plain lines
    assert steps and steps[-1].startswith(f"training: step {meta['steps']}/{meta['total_steps']}, loss ")

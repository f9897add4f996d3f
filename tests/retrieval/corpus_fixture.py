"""A small corpus the retrieval tests write themselves (no ../shared data needed)."""
import json
from pathlib import Path

DOCS = [
    {"id": "sistine", "title": "Sistine Chapel ceiling",
     "text": "The Sistine Chapel ceiling was painted by Michelangelo between 1508 and 1512.\n\n"
             "It is a cornerstone work of High Renaissance art."},
    {"id": "mona", "title": "Mona Lisa", "text": "The Mona Lisa is a half-length portrait painting by Leonardo da Vinci."},
    {"id": "rome", "title": "Fall of the Western Roman Empire",
     "text": "The Western Roman Empire declined because of invasions, economic troubles and political instability."},
    {"id": "python", "title": "Python (programming language)",
     "text": "Python is a high-level programming language whose design emphasises code readability."},
    {"id": "everest", "title": "Mount Everest",
     "text": "Mount Everest is Earth's highest mountain above sea level, in the Himalayas."},
    {"id": "photo", "title": "Photosynthesis",
     "text": "Photosynthesis is the process plants use to turn light into chemical energy stored in sugar."},
    {"id": "jazz", "title": "Jazz", "text": "Jazz is a music genre that originated in New Orleans in the late 19th century."},
    {"id": "moon", "title": "Apollo 11", "text": "Apollo 11 was the first crewed mission to land on the Moon, in July 1969."},
]


def write_corpus(path: Path, docs=DOCS) -> Path:
    path.write_text("".join(json.dumps(d) + "\n" for d in docs), encoding="utf-8")
    return path


def write_beir(folder: Path) -> Path:
    """A BEIR folder over DOCS: queries paraphrase one document each; qrels with a header line."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "corpus.jsonl").write_text("".join(json.dumps({"_id": d["id"], "title": d["title"], "text": d["text"]}) + "\n"
                                                 for d in DOCS))
    queries = {"q1": "who painted the ceiling of the sistine chapel", "q2": "tallest mountain on earth",
               "q3": "how do plants make energy from sunlight", "q4": "first moon landing mission"}
    gold = {"q1": "sistine", "q2": "everest", "q3": "photo", "q4": "moon"}
    (folder / "queries.jsonl").write_text("".join(json.dumps({"_id": q, "text": t}) + "\n" for q, t in queries.items()))
    (folder / "qrels").mkdir(exist_ok=True)
    (folder / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\n" + "".join(f"{q}\t{d}\t1\n" for q, d in gold.items()))
    return folder

"""Reading pretraining text: JSONL with or without titles, `ladder index` folders, held-out split."""
import doctest
import json

import pytest

from ladder.errors import LadderError
from ladder.train import pretrain_data as D


def test_doctests_hold():
    assert doctest.testmod(D).failed == 0


def test_jsonl_with_and_without_titles_and_duplicates_dropped(tmp_path):
    p = tmp_path / "c.jsonl"
    rows = [{"text": "plain body"}, {"title": "Mitosis", "text": "Cells divide."}, {"text": "plain body"}, {}]
    p.write_text("\n".join(json.dumps(r) for r in rows[:3]) + "\n\n")
    assert D.load_texts(str(p)) == ["plain body", "Mitosis\n\nCells divide."]


@pytest.mark.parametrize("line,msg", [("{not json", r"c.jsonl:2: invalid JSON"),
                                       ('{"title": "x"}', r"c.jsonl:2: expected an object with a string field 'text'"),
                                       ('["a"]', r"c.jsonl:2: expected an object")])
def test_jsonl_errors_name_file_and_line(tmp_path, line, msg):
    p = tmp_path / "c.jsonl"
    p.write_text('{"text": "ok"}\n' + line + "\n")
    with pytest.raises(LadderError, match=msg):
        D.load_texts(str(p))


def test_index_folder_passages_are_regrouped_per_document(tmp_path):
    from ladder.retrieval.index import INDEX_VERSION

    idx = tmp_path / "idx"
    idx.mkdir()
    (idx / "manifest.json").write_text(json.dumps({"format": "ladder-index", "version": INDEX_VERSION, "backend": "local"}))
    passages = [{"doc_id": "a", "title": "Alpha", "text": "first part."}, {"doc_id": "b", "title": "", "text": "bee"},
                {"doc_id": "a", "title": "Alpha", "text": "second part."}]
    (idx / "passages.jsonl").write_text("".join(json.dumps(p) + "\n" for p in passages))
    assert D.load_texts(str(idx)) == ["Alpha\n\nfirst part.\nsecond part.", "bee"]


def test_beir_folder_goes_through_the_retrieval_reader(tmp_path):
    (tmp_path / "corpus.jsonl").write_text(json.dumps({"_id": "1", "title": "T", "text": "body"}) + "\n")
    assert D.load_texts(str(tmp_path)) == ["T\n\nbody"]


def test_split_is_stable_and_independent_of_order():
    texts = [f"doc number {i}" for i in range(200)]
    _, held = D.split_heldout(texts, 0.05)
    _, held_rev = D.split_heldout(list(reversed(texts)), 0.05)
    assert set(held) == set(held_rev) and 3 <= len(held) <= 20


def test_split_always_keeps_one_of_each():
    train, held = D.split_heldout(["a", "b"], 0.01)
    assert len(train) == 1 and len(held) == 1


def test_encode_docs_appends_eos_once():
    class Tok:
        eos_token_id = 9

        def __call__(self, texts, add_special_tokens, verbose):
            return {"input_ids": [[1, 2], [3, 9], []]}

    assert D.encode_docs(Tok(), ["x", "y", "z"]) == [[1, 2, 9], [3, 9], [9]]

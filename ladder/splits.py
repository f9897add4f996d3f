"""Task splits in the formats people already have: JSONL, OpenAI chat JSONL, CSV/TSV, Parquet, and a
Hugging Face `datasets` folder (`save_to_disk`). Each is a `SplitReader` in the `ladder.split_readers`
registry, the same kind of plugin a user could write for their own format.

A reader returns the split's rows (dicts of fields) and where each came from ("file:line" or
"file:row N"), so every later error points at the row to fix.

OpenAI chat JSONL rows (`{"messages": [...]}`) become `{"input": ..., "output": ..., "system": ...}`:
the last assistant turn is the output and the turns before it the input, so such a task says
`input = "{input}"` and `output = "output"`.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from ladder.errors import TaskError
from ladder.registry import Registry

Rows = tuple[list[dict[str, Any]], list[str]]  # (rows, "file:line" of each)


@dataclass(frozen=True)
class SplitReader:
    name: str
    detects: Callable[[Path], bool]
    read: Callable[[Path, str], Rows]  # read(path, split name) -> (rows, origins)
    describe: str = ""


SPLIT_READERS: Registry[SplitReader] = Registry("ladder.split_readers", "split format")


def read_split(path: Path, split: str = "") -> Rows:
    """The rows of a split file or folder in any registered format."""
    path = Path(path)
    if not path.exists():
        raise TaskError(f"{path}: {split + ' split ' if split else ''}file not found")
    for name in SPLIT_READERS.names():
        reader = SPLIT_READERS.get(name)
        if reader.detects(path):
            return reader.read(path, split)
    kinds = ", ".join(SPLIT_READERS.get(n).describe or n for n in SPLIT_READERS.names())
    what = "is a folder, not a split file" if path.is_dir() else "is in an unknown format"
    raise TaskError(f"{path}: {split + ' split ' if split else ''}{what}; use {kinds}")


def _suffix(path: Path, *suffixes: str) -> bool:
    return path.is_file() and path.name.lower().endswith(suffixes)


def _first_row(path: Path) -> Any:
    try:
        with open(path, "rb") as f:
            for raw in f:
                if raw.strip():
                    return json.loads(raw)
    except (OSError, ValueError, RecursionError):
        return None  # the JSONL reader reports what is wrong, with the line
    return None


def _is_chat(path: Path) -> bool:
    row = _first_row(path) if _suffix(path, ".jsonl") else None
    return isinstance(row, dict) and isinstance(row.get("messages"), list)


def _read_jsonl(path: Path, split: str) -> Rows:
    from ladder.task import read_jsonl_lines

    return read_jsonl_lines(path, split)


def chat_example(row: Any, where: str) -> dict[str, Any]:
    """One OpenAI chat row as an example: earlier turns -> input, the last assistant turn -> output.

    >>> chat_example({"messages": [{"role": "system", "content": "Be brief."},
    ...     {"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "4"}]}, "f:1")
    {'input': '2+2?', 'output': '4', 'system': 'Be brief.'}
    """
    msgs = row.get("messages") if isinstance(row, dict) else None
    if not isinstance(msgs, list) or not all(isinstance(m, dict) and isinstance(m.get("content"), str) for m in msgs):
        raise TaskError(f"{where}: expected {{\"messages\": [{{\"role\": ..., \"content\": \"...\"}}, ...]}}")
    last = max((i for i, m in enumerate(msgs) if m.get("role") == "assistant"), default=None)
    if last is None:
        raise TaskError(f"{where}: no assistant turn; the last assistant message is the expected output")
    system = "\n".join(m["content"] for m in msgs[:last] if m.get("role") == "system")
    turns = [m for m in msgs[:last] if m.get("role") in ("user", "assistant")]
    if not turns:
        raise TaskError(f"{where}: no user turn before the assistant's answer")
    text = turns[0]["content"] if len(turns) == 1 else "\n".join(f"{m['role'].title()}: {m['content']}" for m in turns)
    out = {"input": text, "output": msgs[last]["content"]}
    return {**out, "system": system} if system else out


def _read_chat(path: Path, split: str) -> Rows:
    rows, origins = _read_jsonl(path, split)
    return [chat_example(r, w) for r, w in zip(rows, origins)], origins


def _read_csv(path: Path, split: str) -> Rows:
    import csv

    delimiter = "\t" if path.name.lower().endswith(".tsv") else ","
    try:
        with open(path, encoding="utf-8", newline="") as f:
            reader = csv.DictReader(f, delimiter=delimiter)
            rows, origins = [], []
            for row in reader:
                if None in row or None in row.values():
                    raise TaskError(f"{path}:{reader.line_num}: the row has a different number of columns than the "
                                    "header; quote fields that hold the delimiter")
                rows.append(dict(row))
                origins.append(f"{path}:{reader.line_num}")
    except UnicodeDecodeError:
        raise TaskError(f"{path}: not valid UTF-8; re-save the file as UTF-8") from None
    except csv.Error as e:
        raise TaskError(f"{path}: malformed CSV ({e})") from None
    return rows, origins


def _read_parquet(path: Path, split: str) -> Rows:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise TaskError(f"{path}: reading Parquet needs pyarrow: pip install pyarrow") from None
    try:
        rows = pq.read_table(path).to_pylist()
    except Exception as e:  # pyarrow raises its own error types for damaged files
        raise TaskError(f"{path}: cannot read Parquet ({type(e).__name__}: {e})") from None
    return rows, [f"{path} row {i}" for i in range(1, len(rows) + 1)]


def _is_hf_folder(path: Path) -> bool:
    return path.is_dir() and any((path / f).is_file() for f in ("dataset_info.json", "dataset_dict.json", "state.json"))


def _read_hf(path: Path, split: str) -> Rows:
    try:
        from datasets import DatasetDict, load_from_disk
    except ImportError:
        raise TaskError(f"{path}: reading a datasets folder needs the datasets package: pip install datasets") from None
    try:
        ds = load_from_disk(str(path))
    except Exception as e:  # datasets raises FileNotFoundError, ValueError and its own types
        raise TaskError(f"{path}: cannot load the datasets folder ({type(e).__name__}: {e})") from None
    if isinstance(ds, DatasetDict):
        if split not in ds:
            raise TaskError(f"{path}: the folder holds splits {', '.join(ds)}, not '{split}'; point "
                            f"'{split}' at one of them (e.g. {path}/{next(iter(ds))})")
        ds = ds[split]
    rows = ds.to_list()
    return rows, [f"{path} [{split}] row {i}" for i in range(1, len(rows) + 1)]


CHAT = SplitReader("chat", _is_chat, _read_chat, "OpenAI chat .jsonl ({\"messages\": [...]})")
JSONL = SplitReader("jsonl", lambda p: _suffix(p, ".jsonl", ".json") and not _is_chat(p), _read_jsonl, ".jsonl")
CSV = SplitReader("csv", lambda p: _suffix(p, ".csv", ".tsv"), _read_csv, ".csv/.tsv")
PARQUET = SplitReader("parquet", lambda p: _suffix(p, ".parquet"), _read_parquet, ".parquet")
HF = SplitReader("hf", _is_hf_folder, _read_hf, "a datasets folder (save_to_disk)")

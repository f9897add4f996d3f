"""Manifests for plain artifact folders: what is in them, and proof that it has not changed.

    write_manifest(folder, "ladder.program", 1, {"rung": "few-shot"})   # manifest.json beside the files
    verify_manifest(folder, "ladder.program")                           # the manifest, or a LadderError

`manifest.json` holds the artifact's kind, its format version, free-form `meta`,
and the SHA-256 and size of every other file in the folder (recursively, paths
with `/`). Verifying re-hashes every file and names the first one that is
missing, changed or not listed, and what to do about it.

`atomic_dir(final)` writes a folder so a reader never sees half of it: the
body writes into a `.tmp-<uuid>` sibling that is renamed into place on success
and removed on failure; `remove_stale_tmp(final)` clears the siblings a killed
writer left behind.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import time
import uuid
from pathlib import Path
from typing import Any, Iterator

from ladder.errors import LadderError

MANIFEST = "manifest.json"
TMP_MARK = ".tmp-"


def sha256_path(path: Path, chunk: int = 1 << 22) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def _files(folder: Path) -> list[str]:
    """Every file under `folder` except the manifest, as sorted '/'-joined relative paths."""
    out = []
    for p in folder.rglob("*"):
        if p.is_file():
            rel = p.relative_to(folder).as_posix()
            if rel != MANIFEST:
                out.append(rel)
    return sorted(out)


def file_table(folder: Path) -> dict[str, dict[str, Any]]:
    """{relative path: {"sha256", "size"}} for every file in `folder` but the manifest."""
    return {rel: {"sha256": sha256_path(folder / rel), "size": (folder / rel).stat().st_size} for rel in _files(folder)}


def write_manifest(folder: Path, kind: str, version: int, meta: dict[str, Any]) -> dict[str, Any]:
    """Write `folder/manifest.json` listing every file's SHA-256 and size; return the manifest.

    >>> import tempfile; d = Path(tempfile.mkdtemp()); _ = (d / "a.txt").write_text("hi")
    >>> write_manifest(d, "demo", 1, {"x": 1})["files"]["a.txt"]["size"]
    2
    """
    folder = Path(folder)
    manifest = {"kind": kind, "version": version, "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "meta": meta, "files": file_table(folder)}
    tmp = folder / f"{MANIFEST}.tmp"
    tmp.write_text(json.dumps(manifest, indent=1, sort_keys=True, ensure_ascii=False, default=str), encoding="utf-8")
    os.replace(tmp, folder / MANIFEST)
    return manifest


def manifest_digest(manifest: dict[str, Any]) -> str:
    """One SHA-256 over a manifest's kind, version and file table: names a folder's exact content."""
    blob = json.dumps([manifest.get("kind"), manifest.get("version"), manifest.get("files")], sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()


def read_manifest(folder: Path, kind: str) -> dict[str, Any]:
    """The manifest of a `kind` folder, without checking the files (LadderError if absent or of another kind)."""
    folder = Path(folder)
    path = folder / MANIFEST
    if not folder.is_dir():
        raise LadderError(f"{folder}: no such folder")
    if not path.is_file():
        raise LadderError(f"{folder}: no {MANIFEST} here, so it is not a saved {kind} folder (or it was written "
                          "by an older ladder); rebuild it")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise LadderError(f"{path}: unreadable manifest ({e}); rebuild the folder") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("files"), dict):
        raise LadderError(f"{path}: not a ladder manifest (no file table); rebuild the folder")
    if manifest.get("kind") != kind:
        raise LadderError(f"{folder}: holds a {manifest.get('kind')!r}, not a {kind!r}")
    return manifest


def verify_manifest(folder: Path, kind: str) -> dict[str, Any]:
    """The manifest, after checking every listed file's size and SHA-256 and that no file was added.

    Raises LadderError naming the folder and the first missing, changed or extra file.
    """
    folder = Path(folder)
    manifest = read_manifest(folder, kind)
    listed: dict[str, Any] = manifest["files"]
    fix = "rebuild it, or pass --no-verify (load(..., verify=False)) to use it anyway"
    for rel, want in sorted(listed.items()):
        p = folder / rel
        if not p.is_file():
            raise LadderError(f"{folder}: file '{rel}' listed in {MANIFEST} is missing; {fix}")
        if p.stat().st_size != want.get("size") or sha256_path(p) != want.get("sha256"):
            raise LadderError(f"{folder}: file '{rel}' changed since the folder was written (SHA-256 differs); {fix}")
    extra = [rel for rel in _files(folder) if rel not in listed]
    if extra:
        raise LadderError(f"{folder}: file '{extra[0]}' is not listed in {MANIFEST} (added after writing); "
                          f"remove it, {fix}")
    return manifest


def remove_stale_tmp(final: Path) -> list[Path]:
    """Remove `.tmp-*` siblings of `final` left by killed writers; return what was removed.

    Only folders named `.<final name>.tmp-<hex>` are touched, so unrelated files stay.
    """
    final = Path(final)
    prefix = f".{final.name}{TMP_MARK}"
    removed = []
    if final.parent.is_dir():
        for p in final.parent.iterdir():
            if p.name.startswith(prefix) and p.is_dir():
                shutil.rmtree(p, ignore_errors=True)
                removed.append(p)
    return removed


@contextlib.contextmanager
def atomic_dir(final: Path, replace: bool = True) -> Iterator[Path]:
    """Yield an empty temporary sibling of `final`; on success it becomes `final`, on failure it is removed.

    With `replace`, an existing `final` is swapped out (renamed aside, then deleted), so readers see the
    old folder or the new one, never a mix. Without it, an existing `final` is a LadderError.
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    if final.exists() and not replace:
        raise LadderError(f"{final}: already exists; choose another folder or remove it")
    tmp = final.with_name(f".{final.name}{TMP_MARK}{uuid.uuid4().hex[:12]}")
    tmp.mkdir()
    try:
        yield tmp
        old = None
        if final.exists():
            old = final.with_name(f".{final.name}{TMP_MARK}old-{uuid.uuid4().hex[:12]}")
            final.rename(old)
        tmp.rename(final)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


@contextlib.contextmanager
def atomic_file(final: Path) -> Iterator[Path]:
    """Yield a temporary sibling path of the file `final`; on success it replaces `final` in one rename,
    on failure it is removed, so readers see the old file or the new one, never part of one.

    >>> import tempfile; d = Path(tempfile.mkdtemp())
    >>> with atomic_file(d / "a.txt") as tmp:
    ...     _ = tmp.write_text("done")
    >>> (d / "a.txt").read_text(), sorted(p.name for p in d.iterdir())
    ('done', ['a.txt'])
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.with_name(f".{final.name}{TMP_MARK}{uuid.uuid4().hex[:12]}")
    try:
        yield tmp
        os.replace(tmp, final)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise

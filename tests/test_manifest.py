import json

import pytest

from ladder.errors import LadderError
from ladder.manifest import (atomic_dir, manifest_digest, read_manifest, remove_stale_tmp, verify_manifest,
                             write_manifest)


@pytest.fixture
def folder(tmp_path):
    d = tmp_path / "art"
    (d / "sub").mkdir(parents=True)
    (d / "a.txt").write_text("alpha")
    (d / "sub" / "b.bin").write_bytes(b"\x00\x01\x02")
    return d


def test_manifest_lists_every_file_recursively_and_verifies(folder):
    m = write_manifest(folder, "ladder.test", 3, {"rung": "zero-shot"})
    assert sorted(m["files"]) == ["a.txt", "sub/b.bin"]
    assert m["files"]["sub/b.bin"]["size"] == 3
    on_disk = json.loads((folder / "manifest.json").read_text())
    assert on_disk["kind"] == "ladder.test" and on_disk["version"] == 3 and on_disk["meta"] == {"rung": "zero-shot"}
    assert verify_manifest(folder, "ladder.test")["files"] == m["files"]


def test_changed_file_is_named(folder):
    write_manifest(folder, "ladder.test", 1, {})
    (folder / "sub" / "b.bin").write_bytes(b"\x00\x01\x03")  # same size, other bytes
    with pytest.raises(LadderError, match=r"art: file 'sub/b.bin' changed.*--no-verify"):
        verify_manifest(folder, "ladder.test")


def test_missing_and_extra_files_are_named(folder):
    write_manifest(folder, "ladder.test", 1, {})
    (folder / "extra.txt").write_text("x")
    with pytest.raises(LadderError, match="'extra.txt' is not listed"):
        verify_manifest(folder, "ladder.test")
    (folder / "extra.txt").unlink()
    (folder / "a.txt").unlink()
    with pytest.raises(LadderError, match="'a.txt' listed in manifest.json is missing"):
        verify_manifest(folder, "ladder.test")


def test_wrong_kind_missing_or_broken_manifest(folder, tmp_path):
    write_manifest(folder, "ladder.index", 1, {})
    with pytest.raises(LadderError, match="not a 'ladder.program'"):
        verify_manifest(folder, "ladder.program")
    (folder / "manifest.json").write_text("{not json")
    with pytest.raises(LadderError, match="unreadable manifest"):
        read_manifest(folder, "ladder.index")
    with pytest.raises(LadderError, match="no manifest.json"):
        verify_manifest(tmp_path, "ladder.index")
    with pytest.raises(LadderError, match="no such folder"):
        verify_manifest(tmp_path / "nope", "ladder.index")


def test_digest_follows_content(folder):
    a = manifest_digest(write_manifest(folder, "k", 1, {"meta": "ignored"}))
    assert manifest_digest(write_manifest(folder, "k", 1, {"meta": "other"})) == a
    (folder / "a.txt").write_text("beta")
    assert manifest_digest(write_manifest(folder, "k", 1, {})) != a


def test_atomic_dir_renames_on_success_and_replaces(tmp_path):
    final = tmp_path / "out"
    with atomic_dir(final) as tmp:
        assert tmp.name.startswith(".out.tmp-") and tmp.parent == tmp_path
        (tmp / "x").write_text("1")
    assert (final / "x").read_text() == "1"
    with atomic_dir(final) as tmp:
        (tmp / "y").write_text("2")
    assert sorted(p.name for p in final.iterdir()) == ["y"]
    assert [p.name for p in tmp_path.iterdir()] == ["out"]
    with pytest.raises(LadderError, match="already exists"):
        with atomic_dir(final, replace=False):
            pass


def test_atomic_dir_removes_the_temp_folder_on_failure(tmp_path):
    final = tmp_path / "out"
    with pytest.raises(RuntimeError):
        with atomic_dir(final) as tmp:
            (tmp / "half").write_text("written")
            raise RuntimeError("killed")
    assert list(tmp_path.iterdir()) == []


def test_remove_stale_tmp_only_touches_this_folders_siblings(tmp_path):
    (tmp_path / ".out.tmp-deadbeef").mkdir()
    (tmp_path / ".out.tmp-old-cafe").mkdir()
    (tmp_path / ".other.tmp-1234").mkdir()
    (tmp_path / "out").mkdir()
    removed = remove_stale_tmp(tmp_path / "out")
    assert sorted(p.name for p in removed) == [".out.tmp-deadbeef", ".out.tmp-old-cafe"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [".other.tmp-1234", "out"]

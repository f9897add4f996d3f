"""Bridge between the bundled GGUF files, transformers/peft, and back to GGUF for llama.cpp.

API (shared by the fine-tuning and pretraining code):

- `resolve_base(spec) -> BaseRef`: a bundled name (`smollm2-135m`, `qwen2.5-coder-0.5b`,
  `gemma3-270m`, ...), a path to a `.gguf`, or a Hugging Face model folder (config.json +
  safetensors, e.g. a pretraining run's output). `BaseRef.fingerprint` is the weights' hash
  (part of every adapter cache key); `BaseRef.gguf` is the file llama.cpp serves (None for a
  plain HF folder).
- `hf_dir(spec) -> Path`: the base as a Hugging Face folder (fp32 safetensors + tokenizer +
  chat template), converted once from the GGUF into `$LADDER_HOME/hf/<name>-<hash>/` (the
  GGUF is dequantized by transformers, so training sees exactly the weights llama.cpp serves).
- `load_base(spec, dtype=torch.float32) -> (model, tokenizer)`: a torch model (eval mode, fp32
  unless `dtype` says otherwise) and its tokenizer, loaded from `hf_dir(spec)`.
- `inference_dtype(name="auto")`: the torch dtype for read-only scoring: bf16 where the CPU
  multiplies bf16 natively (avx512_bf16 or AMX), else fp32.
- `save_hf(model, tokenizer, out_dir)`: save_pretrained for a GGUF-loaded model (clears the
  GGUF quantizer marks first), written to a temp folder and renamed.
- `export_gguf(hf_dir, out_path, outtype="f16")`: a full HF model -> GGUF (convert_hf_to_gguf.py).
- `export_lora_gguf(adapter_dir, base_hf_dir, out_path)`: a PEFT adapter -> GGUF LoRA that
  `LlamaCppModel(base_gguf, lora_path=out_path)` applies on top of the base
  (convert_lora_to_gguf.py).
- `converters_dir() -> Path`: where llama.cpp's convert scripts live. They ship only in the
  llama-cpp-python source distribution, so `install_converters(sdist)` extracts them (with
  the `conversion/` package and the matching `gguf-py/`) into the venv,
  `<sys.prefix>/share/ladder/llama.cpp-<version>/` (else `$LADDER_HOME/tools/...`;
  `$LADDER_CONVERTERS` overrides both). `make install` runs
  `python -m ladder.models.hf install-converters <sdist.tar.gz>`; without an sdist it runs
  `pip download` of the pinned version itself (PyPI only), also done on first use.
"""
from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from ladder.errors import LadderError
from ladder.home import ladder_home
from ladder.manifest import sha256_path

LLAMA_CPP_VERSION = "0.3.36"  # the llama-cpp-python release whose llama.cpp serves our GGUFs
_SDIST = f"llama_cpp_python-{LLAMA_CPP_VERSION}"
_CONVERT_MEMBERS = ("convert_hf_to_gguf.py", "convert_lora_to_gguf.py", "conversion/", "gguf-py/")


# ---------------------------------------------------------------- base models


@dataclass(frozen=True)
class BaseRef:
    name: str  # short name for folders and reports
    fingerprint: str  # SHA-256 (hex, 16 chars) of the weights
    gguf: Path | None  # the GGUF llama.cpp serves, when there is one
    folder: Path | None = None  # an HF folder given directly


def resolve_base(spec: str | os.PathLike) -> BaseRef:
    """Name or path -> BaseRef. Raises LadderError naming the choices."""
    from ladder.models.bundled import BUNDLED, model_path

    s = str(spec)
    if s in BUNDLED:
        return BaseRef(s, BUNDLED[s].sha256[:16], model_path(s))
    p = Path(s)
    if p.is_file() and p.suffix == ".gguf":
        return BaseRef(p.stem, sha256_path(str(p))[:16], p)
    if p.is_dir() and (p / "config.json").exists():
        h = hashlib.sha256((p / "config.json").read_bytes())
        weights = sorted(p.glob("*.safetensors"))
        if not weights:
            raise LadderError(f"{p}: no *.safetensors weights next to config.json")
        for w in weights:
            h.update(sha256_path(str(w)).encode())
        return BaseRef(p.name, h.hexdigest()[:16], None, folder=p)
    raise LadderError(
        f"unknown base model '{s}'; give a bundled name ({', '.join(BUNDLED)}), "
        "a path to a .gguf file, or a Hugging Face folder with config.json"
    )


def hf_dir(spec: str | os.PathLike) -> Path:
    """The base as an HF folder; converted from its GGUF once and cached under LADDER_HOME."""
    ref = resolve_base(spec)
    if ref.folder is not None:
        return ref.folder
    out = ladder_home() / "hf" / f"{ref.name}-{ref.fingerprint}"
    if (out / "config.json").exists():
        return out
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    assert ref.gguf is not None
    try:
        with _cached_tensor_name_map():
            tok = AutoTokenizer.from_pretrained(str(ref.gguf.parent), gguf_file=ref.gguf.name)
            model = AutoModelForCausalLM.from_pretrained(
                str(ref.gguf.parent), gguf_file=ref.gguf.name, dtype=torch.float32
            )
    except (ValueError, KeyError, NotImplementedError) as e:
        raise LadderError(f"{ref.gguf}: transformers cannot load this GGUF ({e}); use another base model") from None
    save_hf(model, tok, out)
    return out


@contextlib.contextmanager
def _cached_tensor_name_map() -> Iterator[None]:
    """transformers rebuilds gguf's tensor-name table once per tensor (~25 s for a 135M model); memoise it."""
    import gguf

    original = gguf.get_tensor_name_map
    gguf.get_tensor_name_map = functools.lru_cache(maxsize=None)(original)
    try:
        yield
    finally:
        gguf.get_tensor_name_map = original


DTYPES = ("auto", "bf16", "fp32")


def inference_dtype(name: str = "auto") -> Any:
    """The torch dtype for `name`: auto -> bf16 if the CPU has native bf16 arithmetic, else fp32;
    bf16 or fp32 as asked.

    bf16 without hardware support is emulated and slower than fp32, hence the check."""
    import torch

    if name not in DTYPES:
        raise LadderError(f"unknown dtype '{name}'; choose one of: {', '.join(DTYPES)}")
    if name == "auto":
        name = "bf16" if cpu_has_bf16() else "fp32"
    return torch.bfloat16 if name == "bf16" else torch.float32


def cpu_has_bf16() -> bool:
    """The x86 flags in /proc/cpuinfo; anywhere else (ARM, macOS) False, so fp32: safe, maybe slower."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    flags = next((line.split(":", 1)[1].split() for line in text.splitlines() if line.startswith("flags")), [])
    return "avx512_bf16" in flags or "amx_bf16" in flags


def load_base(spec: str | os.PathLike, dtype: Any = None) -> tuple[Any, Any]:
    """(model, tokenizer) on CPU, eval mode, fp32 unless `dtype` is given. The tokenizer has a pad token."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    folder = hf_dir(spec)
    tok = AutoTokenizer.from_pretrained(str(folder))
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    model = AutoModelForCausalLM.from_pretrained(str(folder), dtype=dtype or torch.float32)
    model.eval()
    return model, tok


def save_hf(model: Any, tokenizer: Any, out_dir: str | os.PathLike) -> Path:
    """save_pretrained, atomically (temp folder + rename), without GGUF quantizer marks."""
    out = Path(out_dir)
    out.parent.mkdir(parents=True, exist_ok=True)
    # A GGUF-loaded model carries a quantizer that refuses to save; the weights are plain fp32.
    if getattr(model, "hf_quantizer", None) is not None:
        model.hf_quantizer = None
    for attr in ("is_quantized", "quantization_method"):
        if attr in getattr(model, "__dict__", {}):
            try:
                delattr(model, attr)
            except AttributeError:
                pass
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    tmp = Path(tempfile.mkdtemp(prefix=out.name + ".", dir=out.parent))
    try:
        model.save_pretrained(str(tmp), safe_serialization=True)
        if tokenizer is not None:
            tokenizer.save_pretrained(str(tmp))
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return out


def chat_ids(tokenizer: Any, messages: list[dict[str, str]], add_generation_prompt: bool) -> list[int]:
    """Token ids of a chat through the model's own template (the one llama.cpp applies too)."""
    if getattr(tokenizer, "chat_template", None):
        out = tokenizer.apply_chat_template(messages, add_generation_prompt=add_generation_prompt, tokenize=True)
        if hasattr(out, "keys"):
            out = out["input_ids"]
        return list(out)
    # A base model without a template: plain text turns.
    text = "".join(f"{m['content']}\n" for m in messages)
    return tokenizer(text, add_special_tokens=True)["input_ids"]


CHATML_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def write_tiny_base(folder: str | os.PathLike, texts: list[str], seed: int = 0, hidden: int = 32,
                    layers: int = 2) -> Path:
    """A tiny random LLaMA + word-level tokenizer with a ChatML template, as an HF folder.

    A test double for the training code (loads in milliseconds, trains in seconds); the
    vocabulary is every word of `texts` plus the chat markers.
    """
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    special = ["<pad>", "<unk>", "<|im_start|>", "<|im_end|>"]
    words = sorted({w for t in texts for w in pre_tokenizers.Whitespace().pre_tokenize_str(t) for w in [w[0]]}
                   | {"system", "user", "assistant"})
    vocab = {w: i for i, w in enumerate(special + [w for w in words if w not in special])}
    core = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.Whitespace()
    core.add_special_tokens(special)
    tok = PreTrainedTokenizerFast(tokenizer_object=core, pad_token="<pad>", unk_token="<unk>",
                                  eos_token="<|im_end|>", bos_token=None)
    tok.chat_template = CHATML_TEMPLATE
    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=len(vocab), hidden_size=hidden, intermediate_size=2 * hidden,
                         num_hidden_layers=layers, num_attention_heads=4, num_key_value_heads=2,
                         max_position_embeddings=512, tie_word_embeddings=True, pad_token_id=0,
                         initializer_range=0.3,  # large enough that logits can become confident
                         eos_token_id=vocab["<|im_end|>"], bos_token_id=None)
    return save_hf(LlamaForCausalLM(config), tok, folder)


# ---------------------------------------------------------------- llama.cpp converters


def converter_locations() -> list[Path]:
    """Where the convert scripts may live: $LADDER_CONVERTERS, else the venv (make install), else LADDER_HOME."""
    env = os.environ.get("LADDER_CONVERTERS")
    if env:
        return [Path(env)]
    name = f"llama.cpp-{LLAMA_CPP_VERSION}"
    return [Path(sys.prefix) / "share" / "ladder" / name, ladder_home() / "tools" / name]


def converters_dir(install: bool = True) -> Path:
    """Folder holding convert_hf_to_gguf.py and convert_lora_to_gguf.py; installs them if missing."""
    places = converter_locations()
    for d in places:
        if (d / "convert_lora_to_gguf.py").exists():
            return d
    if os.environ.get("LADDER_CONVERTERS") or not install:
        raise LadderError(
            f"llama.cpp convert scripts not found in {' or '.join(map(str, places))}; run "
            "'python -m ladder.models.hf install-converters' (make install does it)"
        )
    return install_converters(None)


def install_converters(sdist: str | os.PathLike | None, dest: str | os.PathLike | None = None) -> Path:
    """Extract llama.cpp's convert scripts from the llama-cpp-python sdist (downloaded with pip if not given).

    `dest`: default the first writable of `converter_locations()`.
    """
    if dest is None:
        places = converter_locations()
        dest = next((d for d in places if _writable(d)), places[-1])
    dest = Path(dest)
    with tempfile.TemporaryDirectory() as scratch:
        if sdist is None:
            print(f"fetching the llama-cpp-python {LLAMA_CPP_VERSION} source (for its GGUF convert scripts)...",
                  file=sys.stderr)
            cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
                   f"llama-cpp-python=={LLAMA_CPP_VERSION}", "-d", scratch, "-q"]
            r = subprocess.run(cmd, capture_output=True, text=True)
            found = sorted(Path(scratch).glob(f"{_SDIST}.tar.gz"))
            if r.returncode != 0 or not found:
                raise LadderError(
                    f"could not download the llama-cpp-python {LLAMA_CPP_VERSION} sdist ({r.stderr.strip()[-200:]}); "
                    f"download it and run 'python -m ladder.models.hf install-converters PATH.tar.gz'"
                )
            sdist = found[0]
        sdist = Path(sdist)
        if not sdist.exists():
            raise LadderError(f"{sdist}: sdist not found")
        prefix = f"{_SDIST}/vendor/llama.cpp/"
        staging = Path(scratch) / "out"
        with tarfile.open(sdist) as tar:
            members = [
                m for m in tar.getmembers()
                if m.name.startswith(prefix) and m.name[len(prefix):].startswith(_CONVERT_MEMBERS)
                and (m.isfile() or m.isdir())
            ]
            if not any(m.name.endswith("convert_lora_to_gguf.py") for m in members):
                raise LadderError(f"{sdist}: no vendor/llama.cpp/convert_lora_to_gguf.py inside; is it the "
                                  f"llama-cpp-python {LLAMA_CPP_VERSION} sdist?")
            for m in members:
                target = staging / m.name[len(prefix):]
                if m.isdir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                src = tar.extractfile(m)
                assert src is not None
                target.write_bytes(src.read())
        (staging / "SOURCE.json").write_text(json.dumps({"sdist": sdist.name, "version": LLAMA_CPP_VERSION}))
        dest.parent.mkdir(parents=True, exist_ok=True)
        if dest.exists():
            shutil.rmtree(dest)
        shutil.move(str(staging), str(dest))
    return dest


def _writable(d: Path) -> bool:
    p = d
    while not p.exists():
        p = p.parent
    return os.access(p, os.W_OK)


def _run_converter(script: str, args: list[str], out: Path) -> Path:
    d = converters_dir()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".part")
    env = {k: v for k, v in os.environ.items() if k != "NO_LOCAL_GGUF"}  # use the matching gguf-py
    env["HF_HUB_OFFLINE"] = "1"
    r = subprocess.run([sys.executable, str(d / script), *args, "--outfile", str(tmp)],
                       capture_output=True, text=True, env=env)
    if r.returncode != 0 or not tmp.exists():
        tmp.unlink(missing_ok=True)
        tail = "\n".join((r.stderr or r.stdout).strip().splitlines()[-5:])
        raise LadderError(f"{script} failed converting to {out}:\n{tail}")
    os.replace(tmp, out)
    return out


def export_gguf(hf_folder: str | os.PathLike, out_path: str | os.PathLike, outtype: str = "f16") -> Path:
    """A full HF model folder -> one GGUF file (outtype: f32, f16, bf16, q8_0)."""
    return _run_converter("convert_hf_to_gguf.py", [str(hf_folder), "--outtype", outtype], Path(out_path))


def export_lora_gguf(adapter_dir: str | os.PathLike, base_hf_dir: str | os.PathLike,
                     out_path: str | os.PathLike, outtype: str = "f32") -> Path:
    """A PEFT adapter folder -> a GGUF LoRA for llama.cpp (the base folder supplies config.json)."""
    return _run_converter(
        "convert_lora_to_gguf.py", ["--base", str(base_hf_dir), "--outtype", outtype, str(adapter_dir)], Path(out_path)
    )


def main(argv: list[str] | None = None) -> int:
    """`python -m ladder.models.hf install-converters [SDIST]` (run by `make install`)."""
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] != "install-converters" or len(args) > 2:
        print("usage: python -m ladder.models.hf install-converters [llama_cpp_python-0.3.36.tar.gz]", file=sys.stderr)
        return 2
    try:
        print(install_converters(args[1] if len(args) == 2 else None))
    except LadderError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

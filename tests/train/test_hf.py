"""The HF/GGUF bridge: base resolution, atomic saves, the convert scripts taken from the sdist."""
import io
import tarfile

import pytest

pytest.importorskip("transformers")

from ladder.errors import LadderError  # noqa: E402
from ladder.models import hf  # noqa: E402

PREFIX = f"llama_cpp_python-{hf.LLAMA_CPP_VERSION}/vendor/llama.cpp/"


def fake_sdist(path, members):
    with tarfile.open(path, "w:gz") as tar:
        for name, text in members.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def test_converters_are_extracted_from_the_sdist_and_nothing_else(tmp_path, monkeypatch):
    sdist = fake_sdist(tmp_path / "s.tar.gz", {
        PREFIX + "convert_hf_to_gguf.py": "# hf", PREFIX + "convert_lora_to_gguf.py": "# lora",
        PREFIX + "conversion/__init__.py": "", PREFIX + "gguf-py/gguf/__init__.py": "",
        PREFIX + "src/llama.cpp": "int main;", PREFIX + "convert_llama_ggml_to_gguf.py": "#",
    })
    monkeypatch.setenv("LADDER_CONVERTERS", str(tmp_path / "conv"))
    with pytest.raises(LadderError, match="install-converters"):
        hf.converters_dir()
    d = hf.install_converters(sdist, tmp_path / "conv")
    assert d == tmp_path / "conv"
    files = sorted(str(p.relative_to(d)) for p in d.rglob("*") if p.is_file())
    assert files == ["SOURCE.json", "conversion/__init__.py", "convert_hf_to_gguf.py", "convert_lora_to_gguf.py",
                     "gguf-py/gguf/__init__.py"]
    assert hf.converters_dir(install=False) == d


def test_a_tarball_without_the_scripts_is_refused(tmp_path):
    sdist = fake_sdist(tmp_path / "s.tar.gz", {"other-1.0/setup.py": ""})
    with pytest.raises(LadderError, match="no vendor/llama.cpp/convert_lora_to_gguf.py"):
        hf.install_converters(sdist, tmp_path / "conv")


def test_inference_dtype_is_bf16_only_where_the_cpu_has_it(monkeypatch):
    import torch

    assert hf.inference_dtype("fp32") is torch.float32 and hf.inference_dtype("bf16") is torch.bfloat16
    monkeypatch.setattr(hf, "cpu_has_bf16", lambda: False)
    assert hf.inference_dtype() is torch.float32
    monkeypatch.setattr(hf, "cpu_has_bf16", lambda: True)
    assert hf.inference_dtype("auto") is torch.bfloat16
    with pytest.raises(LadderError, match="unknown dtype 'fp16'.*auto, bf16, fp32"):
        hf.inference_dtype("fp16")


def test_unknown_base_lists_the_choices(tmp_path):
    with pytest.raises(LadderError, match="smollm2-135m.*qwen2.5-coder-0.5b.*a path to a .gguf"):
        hf.resolve_base("gpt-17")


def test_hf_folder_round_trip_and_fingerprint(tmp_path):
    import torch

    a = hf.write_tiny_base(tmp_path / "a", ["one two three"], seed=0)
    b = hf.write_tiny_base(tmp_path / "b", ["one two three"], seed=1)
    ref = hf.resolve_base(a)
    assert ref.folder == a and ref.gguf is None and len(ref.fingerprint) == 16
    assert ref.fingerprint == hf.resolve_base(a).fingerprint != hf.resolve_base(b).fingerprint
    model, tok = hf.load_base(a)
    ids = torch.tensor([hf.chat_ids(tok, [{"role": "user", "content": "one two"}], add_generation_prompt=True)])
    assert tok.decode(ids[0]).replace(" ", "").startswith("<|im_start|>user")
    hf.save_hf(model, tok, tmp_path / "copy")
    again, _ = hf.load_base(tmp_path / "copy")
    with torch.no_grad():
        assert torch.equal(model(input_ids=ids).logits, again(input_ids=ids).logits)
    assert not list(tmp_path.glob("copy.*"))  # no temp folder left behind


@pytest.mark.integration
def test_lora_adapter_converts_to_a_gguf_lora(tmp_path):
    """convert_lora_to_gguf.py (from the sdist) on a tiny adapter: an adapter GGUF with lora_a/lora_b pairs."""
    gguf = pytest.importorskip("gguf")
    from peft import LoraConfig, get_peft_model

    try:
        hf.converters_dir(install=False)
    except LadderError:
        pytest.skip("llama.cpp convert scripts not installed (make install does it)")
    base = hf.write_tiny_base(tmp_path / "base", ["one two three"])
    model, _ = hf.load_base(base)
    peft_model = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"]))
    peft_model.save_pretrained(str(tmp_path / "adapter"))
    out = hf.export_lora_gguf(tmp_path / "adapter", base, tmp_path / "adapter.gguf")
    reader = gguf.GGUFReader(str(out))
    names = {t.name for t in reader.tensors}
    assert {"blk.0.attn_q.weight.lora_a", "blk.0.attn_q.weight.lora_b", "blk.1.attn_v.weight.lora_b"} <= names
    kind = reader.fields["general.type"]
    assert bytes(kind.parts[kind.data[0]]).decode() == "adapter"

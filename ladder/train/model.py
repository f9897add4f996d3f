"""A small LLaMA-style decoder in one readable file (nanoGPT spirit), and its GGUF export.

The architecture is exactly transformers' `LlamaForCausalLM` (pre-norm RMSNorm,
rotary positions in the rotate-half convention, SwiGLU MLP, no biases, tied
embeddings), and the parameter names are its names minus the "model." prefix.
That buys three things without a conversion layer to maintain:
- `save_pretrained()` writes a folder transformers loads with `from_pretrained`;
- the tests check our forward pass against transformers' on the same weights;
- `export_gguf()` is a name map plus llama.cpp's rotary permutation, so the model
  is served by the same llama.cpp runtime as the bundled models.

Shapes: B = batch, T = time (tokens), C = d_model, H = heads, Hk = kv heads, D = head dim.
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from ladder.errors import LadderError
from ladder.manifest import atomic_file


@dataclass
class ModelConfig:
    vocab_size: int = 8192  # a corpus-trained BPE; small vocabularies keep the embedding a modest share of a tiny model
    n_layer: int = 8
    n_head: int = 6
    n_kv_head: int = 6  # = n_head is plain multi-head attention; fewer shares K/V across heads (GQA)
    d_model: int = 384
    d_ff: int = 1024  # SwiGLU hidden width, ~8/3 * d_model (LLaMA) rounded to a multiple of 64
    max_seq: int = 256  # context length trained on; rotary positions extrapolate poorly past it
    rope_theta: float = 10000.0
    norm_eps: float = 1e-5
    init_std: float = 0.02  # GPT-2/LLaMA initialisation; residual projections get scaled down by depth
    tie_embeddings: bool = True  # halves the embedding cost, which dominates a tiny model

    def __post_init__(self) -> None:
        assert self.d_model % self.n_head == 0, "d_model must split evenly into heads"
        assert self.n_head % self.n_kv_head == 0, "query heads must group evenly over kv heads"
        assert (self.d_model // self.n_head) % 2 == 0, "rotary embedding needs an even head dim"

    @property
    def head_dim(self) -> int:
        return self.d_model // self.n_head

    def n_params(self) -> int:
        """Parameter count, embeddings included (Chinchilla's convention), computed from the shapes."""
        C, D = self.d_model, self.head_dim
        attn = C * self.n_head * D * 2 + C * self.n_kv_head * D * 2  # q, o and k, v projections
        mlp = 3 * C * self.d_ff
        per_layer = attn + mlp + 2 * C  # two RMSNorm gains
        embed = self.vocab_size * C * (1 if self.tie_embeddings else 2)
        return embed + self.n_layer * per_layer + C


def config_for_params(target: int, vocab_size: int, max_seq: int = 256) -> ModelConfig:
    """The shape whose parameter count is closest to `target`, at a GPT-like depth/width ratio.

    Widths are multiples of 64 (head dim 64, or 32 below 256 wide); depth is kept
    between width/96 and width/32, the range small GPT/LLaMA models use, with a
    mild preference for width ~48 x depth among shapes of about the right size.

    >>> c = config_for_params(20_000_000, vocab_size=8192)
    >>> (c.n_layer, c.d_model, round(c.n_params() / 1e6, 1))
    (7, 448, 20.7)
    """
    best: tuple[float, ModelConfig] | None = None
    for d_model in range(64, 4097, 64):
        head_dim = 64 if d_model >= 256 else 32
        d_ff = 64 * max(1, round(d_model * 8 / 3 / 64))
        lo, hi = max(1, math.ceil(d_model / 96)), max(2, d_model // 32)
        for n_layer in range(lo, hi + 1):
            n_head = d_model // head_dim
            cfg = ModelConfig(vocab_size, n_layer, n_head, n_head, d_model, d_ff, max_seq)
            gap = abs(math.log(cfg.n_params() / target))
            score = gap + 0.05 * abs(math.log(d_model / n_layer / 48))  # mild pull towards width ~48 x depth
            if best is None or score < best[0] - 1e-9:
                best = (score, cfg)
    assert best is not None
    if abs(math.log(best[1].n_params() / target)) > math.log(2):
        raise LadderError(
            f"--params: {target:,} is far from any model this vocabulary ({vocab_size:,} tokens) allows "
            f"(closest {best[1].n_params():,}); pick a size between ~{ModelConfig(vocab_size, 1, 2, 2, 64, 192).n_params() // 1000}k and 2B"
        )
    return best[1]


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        var = x.pow(2).mean(-1, keepdim=True)
        return self.weight * (x * torch.rsqrt(var + self.eps))


def rotary_tables(cfg: ModelConfig, T: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and sin, each (T, D): frequency i is used by dims i and i + D/2 (rotate-half layout)."""
    D = cfg.head_dim
    inv_freq = 1.0 / (cfg.rope_theta ** (torch.arange(0, D, 2, device=device, dtype=torch.float32) / D))
    angles = torch.outer(torch.arange(T, device=device, dtype=torch.float32), inv_freq)  # (T, D/2)
    angles = torch.cat([angles, angles], dim=-1)  # (T, D)
    return angles.cos(), angles.sin()


def apply_rotary(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """x: (B, H, T, D). Rotates each (x_i, x_{i+D/2}) pair by its position's angle."""
    half = x.shape[-1] // 2
    rotated = torch.cat([-x[..., half:], x[..., :half]], dim=-1)
    return x * cos + rotated * sin


class Attention(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        C, D = cfg.d_model, cfg.head_dim
        self.q_proj = nn.Linear(C, cfg.n_head * D, bias=False)
        self.k_proj = nn.Linear(C, cfg.n_kv_head * D, bias=False)
        self.v_proj = nn.Linear(C, cfg.n_kv_head * D, bias=False)
        self.o_proj = nn.Linear(cfg.n_head * D, C, bias=False)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        B, T, C = x.shape
        H, Hk, D = self.cfg.n_head, self.cfg.n_kv_head, self.cfg.head_dim
        q = self.q_proj(x).view(B, T, H, D).transpose(1, 2)  # (B, H, T, D)
        k = self.k_proj(x).view(B, T, Hk, D).transpose(1, 2)  # (B, Hk, T, D)
        v = self.v_proj(x).view(B, T, Hk, D).transpose(1, 2)  # (B, Hk, T, D)
        q, k = apply_rotary(q, cos, sin), apply_rotary(k, cos, sin)
        if Hk != H:  # each kv head serves H/Hk query heads
            k = k.repeat_interleave(H // Hk, dim=1)
            v = v.repeat_interleave(H // Hk, dim=1)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)  # (B, H, T, D)
        return self.o_proj(y.transpose(1, 2).reshape(B, T, H * D))  # (B, T, C)


class MLP(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.gate_proj = nn.Linear(cfg.d_model, cfg.d_ff, bias=False)
        self.up_proj = nn.Linear(cfg.d_model, cfg.d_ff, bias=False)
        self.down_proj = nn.Linear(cfg.d_ff, cfg.d_model, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))  # SwiGLU


class Block(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.input_layernorm = RMSNorm(cfg.d_model, cfg.norm_eps)
        self.self_attn = Attention(cfg)
        self.post_attention_layernorm = RMSNorm(cfg.d_model, cfg.norm_eps)
        self.mlp = MLP(cfg)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        x = x + self.self_attn(self.input_layernorm(x), cos, sin)
        return x + self.mlp(self.post_attention_layernorm(x))


class TinyLlama(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.embed_tokens = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.layers = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layer))
        self.norm = RMSNorm(cfg.d_model, cfg.norm_eps)
        self.lm_head = nn.Linear(cfg.d_model, cfg.vocab_size, bias=False)
        if cfg.tie_embeddings:
            self.lm_head.weight = self.embed_tokens.weight
        self.apply(self._init)
        for name, p in self.named_parameters():  # GPT-2: keep the residual stream's variance flat in depth
            if name.endswith(("o_proj.weight", "down_proj.weight")):
                nn.init.normal_(p, mean=0.0, std=cfg.init_std / math.sqrt(2 * cfg.n_layer))

    def _init(self, module: nn.Module) -> None:
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, mean=0.0, std=self.cfg.init_std)

    def n_params(self) -> int:
        return sum(p.numel() for p in self.parameters())  # tied weights are counted once

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        """idx: (B, T) token ids -> logits (B, T, vocab)."""
        B, T = idx.shape
        assert T <= self.cfg.max_seq, f"sequence of {T} tokens exceeds max_seq {self.cfg.max_seq}"
        cos, sin = rotary_tables(self.cfg, T, idx.device)
        x = self.embed_tokens(idx)  # (B, T, C)
        for block in self.layers:
            x = block(x, cos, sin)
        return self.lm_head(self.norm(x))  # (B, T, V)

    @torch.no_grad()
    def generate(self, idx: torch.Tensor, max_new_tokens: int, temperature: float = 0.0) -> torch.Tensor:
        """Greedy (temperature 0) or sampled continuation of idx (B, T) -> (B, T + max_new_tokens)."""
        for _ in range(max_new_tokens):
            logits = self(idx[:, -self.cfg.max_seq:])[:, -1, :]  # (B, V)
            if temperature <= 0:
                nxt = logits.argmax(-1, keepdim=True)
            else:
                nxt = torch.multinomial(F.softmax(logits / temperature, dim=-1), 1)
            idx = torch.cat([idx, nxt], dim=1)
        return idx

    # -- artifacts: transformers' folder layout ---------------------------------------------

    def hf_config(self) -> dict:
        c = self.cfg
        return {
            "architectures": ["LlamaForCausalLM"], "model_type": "llama",
            "vocab_size": c.vocab_size, "hidden_size": c.d_model, "intermediate_size": c.d_ff,
            "num_hidden_layers": c.n_layer, "num_attention_heads": c.n_head,
            "num_key_value_heads": c.n_kv_head, "head_dim": c.head_dim, "max_position_embeddings": c.max_seq,
            "rms_norm_eps": c.norm_eps, "rope_theta": c.rope_theta, "tie_word_embeddings": c.tie_embeddings,
            "hidden_act": "silu", "attention_bias": False, "mlp_bias": False,
            "bos_token_id": 0, "eos_token_id": 0, "pad_token_id": 1, "torch_dtype": "float32",
            "ladder": {"format": 1, "config": asdict(c)},
        }

    def hf_state_dict(self) -> dict[str, torch.Tensor]:
        """Weights under transformers' names; a tied lm_head is left out, as transformers does."""
        out = {}
        for name, t in self.state_dict().items():
            if name == "lm_head.weight":
                if not self.cfg.tie_embeddings:
                    out[name] = t
            else:
                out["model." + name] = t
        return {k: v.detach().contiguous().clone() for k, v in out.items()}

    def save_pretrained(self, folder: str | Path) -> Path:
        """config.json + model.safetensors, written to a temp name and renamed (never half-written)."""
        from safetensors.torch import save_file

        folder = Path(folder)
        with atomic_file(folder / "model.safetensors") as tmp:
            save_file(self.hf_state_dict(), str(tmp), metadata={"format": "pt"})
        with atomic_file(folder / "config.json") as tmp:
            tmp.write_text(json.dumps(self.hf_config(), indent=2) + "\n")
        return folder

    @classmethod
    def from_pretrained(cls, folder: str | Path) -> "TinyLlama":
        from safetensors.torch import load_file

        folder = Path(folder)
        if not (folder / "config.json").exists() or not (folder / "model.safetensors").exists():
            raise LadderError(f"{folder}: not a model folder (needs config.json and model.safetensors)")
        raw = json.loads((folder / "config.json").read_text())
        if "ladder" not in raw:
            raise LadderError(f"{folder}/config.json: not written by ladder's pretrain; load it with transformers")
        known = {f.name for f in fields(ModelConfig)}
        model = cls(ModelConfig(**{k: v for k, v in raw["ladder"]["config"].items() if k in known}))
        state = {k.removeprefix("model."): v for k, v in load_file(str(folder / "model.safetensors")).items()}
        if model.cfg.tie_embeddings:
            state["lm_head.weight"] = state["embed_tokens.weight"]
        model.load_state_dict(state)
        return model


def _llamacpp_permute(w: torch.Tensor, n_head: int) -> torch.Tensor:
    """Reorder q/k rows from rotate-half pairs (i, i+D/2) to llama.cpp's adjacent pairs (2i, 2i+1)."""
    rows = w.shape[0]
    return w.reshape(n_head, 2, rows // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def export_gguf(model: TinyLlama, tokenizer, path: str | Path, name: str = "ladder-tiny") -> Path:
    """Write an F32 GGUF (arch "llama", "gpt2" byte-level BPE vocabulary) that llama.cpp loads."""
    import gguf

    from ladder.train.tokenizer import END, gguf_vocab

    c = model.cfg
    tokens, types, merges = gguf_vocab(tokenizer)
    if len(tokens) != c.vocab_size:
        raise LadderError(f"tokenizer has {len(tokens)} tokens but the model expects {c.vocab_size}")
    path = Path(path)
    with atomic_file(path) as tmp:
        w = gguf.GGUFWriter(str(tmp), "llama")
        w.add_name(name)
        w.add_context_length(c.max_seq)
        w.add_embedding_length(c.d_model)
        w.add_block_count(c.n_layer)
        w.add_feed_forward_length(c.d_ff)
        w.add_head_count(c.n_head)
        w.add_head_count_kv(c.n_kv_head)
        w.add_layer_norm_rms_eps(c.norm_eps)
        w.add_rope_freq_base(c.rope_theta)
        w.add_rope_dimension_count(c.head_dim)
        w.add_vocab_size(c.vocab_size)
        w.add_file_type(gguf.LlamaFileType.ALL_F32)
        w.add_tokenizer_model("gpt2")
        w.add_tokenizer_pre("gpt-2")  # the GPT-2 split regex, as in ladder.train.tokenizer
        w.add_token_list(tokens)
        w.add_token_types(types)
        w.add_token_merges(merges)
        end_id = tokens.index(END)
        w.add_bos_token_id(end_id)
        w.add_eos_token_id(end_id)
        w.add_add_bos_token(True)  # training put END before every document

        names = {"input_layernorm": "attn_norm", "post_attention_layernorm": "ffn_norm",
                 "self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k", "self_attn.v_proj": "attn_v",
                 "self_attn.o_proj": "attn_output", "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up",
                 "mlp.down_proj": "ffn_down"}
        sd = {k: v.detach().float() for k, v in model.state_dict().items()}
        w.add_tensor("token_embd.weight", sd["embed_tokens.weight"].numpy())
        for i in range(c.n_layer):
            for ours, theirs in names.items():
                t = sd[f"layers.{i}.{ours}.weight"]
                if ours == "self_attn.q_proj":
                    t = _llamacpp_permute(t, c.n_head)
                elif ours == "self_attn.k_proj":
                    t = _llamacpp_permute(t, c.n_kv_head)
                w.add_tensor(f"blk.{i}.{theirs}.weight", t.contiguous().numpy())
        w.add_tensor("output_norm.weight", sd["norm.weight"].numpy())
        if not c.tie_embeddings:  # llama.cpp reuses token_embd when output is absent
            w.add_tensor("output.weight", sd["lm_head.weight"].numpy())
        w.write_header_to_file()
        w.write_kv_data_to_file()
        w.write_tensors_to_file()
        w.close()
    return path

"""Continued pretraining on SciFact abstracts: held-out perplexity before/after, and what it cost.

Claim measured: a few minutes of continued pretraining of a bundled base on a
domain corpus lowers its perplexity on held-out documents of that domain.
Side by side in the same run: the base itself (perplexity "before", same
windows), and a general-domain control (Wikipedia leads) scored before and
after, to show what the domain gain costs elsewhere.

    python bench/pretrain_continued.py --base smollm2-135m --steps 30
    python bench/pretrain_continued.py --base gemma3-270m --steps 15

A small, honest run for 2 shared CPU cores: the token count is tiny next to
any real continued pretraining (billions of tokens); `plan` in the JSON says
what a real one would cost on GPUs.
"""
from __future__ import annotations

import argparse
import os
import random
import tempfile
import time

from common import need_data, write


def paired_delta(before: list[float], after: list[float], n_boot: int = 2000, seed: int = 0) -> dict:
    """Mean per-window loss reduction (nats/token) with a 95% paired bootstrap interval."""
    d = [b - a for b, a in zip(before, after)]
    rng = random.Random(seed)
    boots = sorted(sum(d[rng.randrange(len(d))] for _ in d) / len(d) for _ in range(n_boot))
    return {"mean": sum(d) / len(d), "ci95": [boots[int(0.025 * n_boot)], boots[int(0.975 * n_boot) - 1]],
            "windows": len(d)}


def control_nll(model_dir_or_spec: str, texts: list[str], seq: int, tokens: int, batch: int, hf_folder: bool) -> list[float]:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from ladder.models.hf import load_base
    from ladder.train.pretrain import window_nll
    from ladder.train.pretrain_data import encode_docs

    if hf_folder:
        tok = AutoTokenizer.from_pretrained(model_dir_or_spec)
        model = AutoModelForCausalLM.from_pretrained(model_dir_or_spec, dtype=torch.float32).eval()
    else:
        model, tok = load_base(model_dir_or_spec)
    stream = torch.tensor([t for ids in encode_docs(tok, texts) for t in ids], dtype=torch.long)
    return window_nll(lambda x: model(input_ids=x).logits, stream, seq, tokens, batch)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--base", default="smollm2-135m")
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--seq-len", type=int, default=128)
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--eval-tokens", type=int, default=4096)
    ap.add_argument("--control-tokens", type=int, default=2048)
    ap.add_argument("--lr", type=float, default=None)
    ap.add_argument("--freeze-embeddings", action="store_true")
    args = ap.parse_args()

    scifact = need_data("beir", "scifact")
    import torch

    from ladder.retrieval.corpus import load_corpus
    from ladder.train.plan import plan
    from ladder.train.pretrain import PretrainConfig, perplexity, perplexity_interval, pretrain

    torch.manual_seed(0)
    control_texts = [d["text"] for d in load_corpus("wikipedia")][:400]
    load0 = os.getloadavg()
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-cpt-") as tmp:
        cfg = PretrainConfig(out=f"{tmp}/run", base=args.base, steps=args.steps, seq_len=args.seq_len,
                             batch_size=args.batch_size, eval_tokens=args.eval_tokens, lr=args.lr,
                             freeze_embeddings=args.freeze_embeddings, export=False, checkpoint_every=10**9)
        r = pretrain(str(scifact), cfg, on_step=lambda i: print(
            f"step {i['step']}/{i['steps']} loss {i['loss']:.3f} {i['tokens_per_second']:.1f} tok/s", flush=True))
        ctl_before = control_nll(args.base, control_texts, args.seq_len, args.control_tokens, args.batch_size, False)
        ctl_after = control_nll(r.model_dir, control_texts, args.seq_len, args.control_tokens, args.batch_size, True)
    total = time.perf_counter() - t0
    big = plan(r.params, 1_000_000_000, gpu="h100", n_gpus=1)
    write(f"pretrain_continued_{args.base}", {
        "claim": "continued pretraining lowers held-out perplexity on the domain corpus",
        "corpus": "BEIR SciFact corpus (5,183 abstracts, title + text); held-out by hash of the text",
        "base": args.base, "params": r.params,
        "settings": {"steps": r.steps, "seq_len": args.seq_len, "batch_size": args.batch_size, "lr": r.config["lr"],
                     "warmup": r.config["warmup"], "freeze_embeddings": args.freeze_embeddings, "seed": 0},
        "domain_heldout": {
            "docs": r.heldout_docs, "windows": len(r.heldout_nll_after), "tokens_scored": len(r.heldout_nll_after) * args.seq_len,
            "perplexity_before": r.perplexity_before, "perplexity_before_ci95": r.perplexity_before_ci,
            "perplexity_after": r.perplexity_after, "perplexity_after_ci95": r.perplexity_after_ci,
            "ratio_after_over_before": r.perplexity_after / r.perplexity_before,
            "loss_reduction_nats_per_token": paired_delta(r.heldout_nll_before, r.heldout_nll_after),
        },
        "general_control_wikipedia": {
            "windows": len(ctl_after),
            "perplexity_before": perplexity(ctl_before), "perplexity_before_ci95": perplexity_interval(ctl_before),
            "perplexity_after": perplexity(ctl_after), "perplexity_after_ci95": perplexity_interval(ctl_after),
            "loss_reduction_nats_per_token": paired_delta(ctl_before, ctl_after),
        },
        "cost": {"tokens_seen": r.tokens_seen, "train_stream_tokens": r.train_tokens, "wall_seconds": r.wall_seconds,
                 "cpu_seconds": r.cpu_seconds, "tokens_per_second": r.tokens_per_second, "flops": r.flops,
                 "dollars_at_cpu_hour": r.dollars, "usd_per_cpu_hour": r.usd_per_cpu_hour,
                 "bench_total_seconds": total},
        "loss_curve": r.losses,
        "machine_load": {"loadavg_start": load0, "loadavg_end": os.getloadavg(),
                         "note": "2 cores shared with other jobs; wall time and tokens/s are pessimistic"},
        "scale_reference": {"what": f"1B tokens of continued pretraining of {args.base} on one H100 (plan-pretrain)",
                            "gpu_hours": big.gpu_hours, "dollars": big.dollars},
    })


if __name__ == "__main__":
    main()

"""ladder's LLM call vs raw llama-cpp-python on the same prompts: generated tokens/s, side by side.

Claim: ratio (ladder / raw) >= 0.95. Both use the same GGUF, the same chat template, greedy decoding,
and alternate prompt by prompt so machine load hits both equally.
"""
from __future__ import annotations

import time

from common import write

from ladder.models import load_model

PROMPTS = [f"Write two sentences about the number {i}." for i in range(12)]
MAX_TOKENS = 48


def main() -> None:
    ours = load_model("smollm2-135m")
    # the same threads for generation and prompt reading on both sides (ladder sets both to LADDER_THREADS)
    raw = ours.llama.__class__(str(ours.path), n_ctx=4096, n_threads=ours.llama.n_threads,
                               n_threads_batch=ours.llama.n_threads_batch, verbose=False, seed=0)
    t = {"ladder": [0.0, 0], "raw": [0.0, 0]}
    for p in PROMPTS:
        msgs = [{"role": "user", "content": p}]
        raw.reset()
        s = time.perf_counter()
        r = raw.create_chat_completion(msgs, max_tokens=MAX_TOKENS, temperature=0.0, top_k=1, seed=0)
        t["raw"][0] += time.perf_counter() - s
        t["raw"][1] += r["usage"]["completion_tokens"]
        ours.llama.reset()
        s = time.perf_counter()
        o = ours.complete(msgs, max_tokens=MAX_TOKENS)
        t["ladder"][0] += time.perf_counter() - s
        t["ladder"][1] += o.usage.tokens_out
    tps = {k: v[1] / v[0] for k, v in t.items()}
    write("llm_call", {"model": "smollm2-135m", "prompts": len(PROMPTS), "max_tokens": MAX_TOKENS,
                       "tokens_per_second": tps, "ratio": tps["ladder"] / tps["raw"], "claim": ">= 0.95"})


if __name__ == "__main__":
    main()

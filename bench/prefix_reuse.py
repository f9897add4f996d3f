"""Few-shot evaluation with 8 fixed demos: KV-cache prefix reuse vs re-reading the prompt every time.

Claim: >= 5x faster with reuse. Same program, same examples; the baseline resets llama.cpp's
state before every call so the shared demo prefix is evaluated again each time.
"""
from __future__ import annotations

import sys
import tempfile
import time

from common import write

from ladder.data.wiki_topics import build
from ladder.models import load_model
from ladder.rungs import few_shot
from ladder.task import load_task

N = 40


def main(model_name: str = "smollm2-135m") -> None:
    task = load_task(build(tempfile.mkdtemp(), n_test=N))
    model = load_model(model_name)
    program = few_shot.compile(task, model, {"k": 8, "selector": "fixed"})
    timings, answers = {}, {}
    for mode in ("no_reuse", "reuse"):
        model.llama.reset()
        start = time.perf_counter()
        out = []
        for ex in task.test:
            if mode == "no_reuse":
                model.llama.reset()
            out.append(program(ex).text)
        timings[mode] = time.perf_counter() - start
        answers[mode] = out
    prompt_tokens = len(model.tokens(model.render(program.messages(task.test[0]))[0]))
    write(f"prefix_reuse_{model_name}", {
        "model": model_name, "examples": N, "k": 8, "prompt_tokens_first_example": prompt_tokens,
        "seconds": timings, "speedup": timings["no_reuse"] / timings["reuse"], "claim": ">= 5x",
        "same_answers": answers["reuse"] == answers["no_reuse"],
    })


if __name__ == "__main__":
    main(*(sys.argv[1:2] or []))

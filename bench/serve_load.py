"""Load on `ladder serve` against llama.cpp's own server, same model and same requests.

32 concurrent clients x 50 chat requests each (1,600), SmolLM2-135M behind
  A. `ladder serve <saved zero-shot program>`: the program's prompt applied by the server;
  B. `python -m llama_cpp.server` on the same GGUF, sent the exact messages the program builds.
Both greedy, same max_tokens, same llama.cpp threads (LADDER_THREADS for A, --n_threads for B), one
model each (both serialize generation). Rounds alternate A B B A (each client sends half its
requests per pair of rounds) so drift on a shared machine hits both sides alike. Reported per
side: errors (must be 0), throughput, p50/p95 latency, peak RSS of the server process (VmHWM),
and the ratio A/B; plus how often the two servers gave the same answer.

    flock /tmp/ladder-heavy.lock nice -n 5 .venv/bin/python bench/serve_load.py
    .venv/bin/python bench/serve_load.py --clients 4 --requests 4     # a quick smoke run
    .venv/bin/python bench/serve_load.py --answers    # why answers differed: one process, no servers
"""
from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import write  # noqa: E402

COUNTRIES = ["France", "Italy", "Spain", "Germany", "Japan", "Canada", "Brazil", "Egypt", "Kenya", "India",
             "China", "Peru", "Chile", "Norway", "Sweden", "Poland", "Greece", "Turkey", "Mexico", "Cuba",
             "Ireland", "Portugal", "Austria", "Hungary", "Finland", "Denmark", "Belgium", "Iceland", "Nepal",
             "Vietnam", "Thailand", "Morocco", "Ghana", "Nigeria", "Argentina", "Colombia", "Australia",
             "Indonesia", "Iran", "Iraq", "Israel", "Jordan", "Ukraine", "Romania", "Serbia", "Croatia",
             "Senegal", "Ethiopia", "Mongolia", "Bolivia"]

SAME_NOTE = ("Both servers render the same prompt (llama_cpp.server uses the GGUF's own chat template, chat_format "
             "'chat_template.default', as ladder does) and are sent repeat_penalty 1.0: llama_cpp.server's default is "
             "1.1, ladder's 1.0, and that difference alone made 9 of 50 answers differ in the first run "
             "(bench/results/serve_load_answers.json). Each side's answer per question is its last one.")


def answers_check(max_tokens: int) -> None:
    """The program's answers against llama.cpp's chat completion on the same messages, greedy, with the
    repetition penalty at 1.0 (ladder's) and at 1.1 (llama_cpp.server's default): which one explains
    the servers' differing answers."""
    from llama_cpp import Llama

    from ladder.models.bundled import model_path

    _, program = save_program(Path(tempfile.mkdtemp(prefix="serve-answers-")), max_tokens)
    questions = [{"text": f"What is the capital of {c}?"} for c in COUNTRIES]
    ours = [program(q).text for q in questions]
    llm = Llama(str(model_path("smollm2-135m")), n_ctx=4096, n_threads=1, n_threads_batch=1, verbose=False,
                chat_format="chat_template.default")
    out = {}
    for penalty in (1.0, 1.1):
        theirs = [llm.create_chat_completion(program.messages(q), max_tokens=max_tokens, temperature=0.0, top_k=1,
                                             seed=0, repeat_penalty=penalty)["choices"][0]["message"]["content"].strip()
                  for q in questions]
        differ = [{"ladder": a, "llama_cpp": b} for a, b in zip(ours, theirs) if a != b]
        out[f"repeat_penalty_{penalty}"] = {"identical": len(questions) - len(differ), "differ_examples": differ[:3]}
    write("serve_load_answers", {"model": "smollm2-135m", "model_sha256": program.model.fingerprint,
                                 "questions": len(questions), "max_tokens": max_tokens, **out})


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def save_program(folder: Path, max_tokens: int) -> tuple[Path, object]:
    from ladder.models import load_model
    from ladder.rungs import get_rung
    from ladder.saved import save_program as save
    from ladder.task import Task

    rows = [{"text": f"What is the capital of {c}?", "answer": "x"} for c in COUNTRIES[:2]]
    task = Task("capitals", "Answer the question in a few words.", "{text}", "answer", train=rows, test=rows,
                max_tokens=max_tokens)
    program = get_rung("zero-shot")(task, load_model("smollm2-135m"), {})
    return save(program, folder / "capitals"), program


def wait_ready(url: str, proc: subprocess.Popen, timeout: float = 180) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited {proc.returncode}")
        try:
            if httpx.get(url, timeout=2).status_code < 500:
                return
        except httpx.HTTPError:
            time.sleep(0.5)
    raise SystemExit(f"{url} not ready after {timeout} s")


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def one_round(url: str, key: str | None, make_body, clients: int, per_client: int, offset: int,
                    answers: dict) -> tuple[list[float], list[str]]:
    import httpx

    latencies: list[float] = []
    errors: list[str] = []
    headers = {"Authorization": f"Bearer {key}"} if key else {}

    async def client(i: int, http: httpx.AsyncClient) -> None:
        for j in range(per_client):
            q = (i * 7 + offset + j) % len(COUNTRIES)
            t = time.perf_counter()
            try:
                r = await http.post(url, json=make_body(q), headers=headers)
                if r.status_code != 200:
                    errors.append(f"{r.status_code}: {r.text[:120]}")
                    continue
                answers[q] = r.json()["choices"][0]["message"]["content"]
            except Exception as e:  # noqa: BLE001  (a load test counts every failure)
                errors.append(f"{type(e).__name__}: {e}")
                continue
            latencies.append(time.perf_counter() - t)

    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(timeout=600, limits=limits) as http:
        await asyncio.gather(*(client(i, http) for i in range(clients)))
    return latencies, errors


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--clients", type=int, default=32)
    ap.add_argument("--requests", type=int, default=50, help="per client, over all rounds")
    ap.add_argument("--max-tokens", type=int, default=16, help="new tokens per answer (both servers)")
    ap.add_argument("--threads", type=int, default=1, help="llama.cpp threads per server")
    ap.add_argument("--out", default="serve_load")
    ap.add_argument("--answers", action="store_true", help="only compare answers in one process (see answers_check)")
    args = ap.parse_args()
    if args.answers:
        return answers_check(args.max_tokens)
    os.environ["LADDER_THREADS"] = str(args.threads)
    from ladder.models.bundled import model_path

    gguf = model_path("smollm2-135m")
    tmp = Path(tempfile.mkdtemp(prefix="serve-load-"))
    folder, program = save_program(tmp, args.max_tokens)
    key = "bench-key"
    env = {**os.environ, "LADDER_THREADS": str(args.threads)}
    pa, pb = free_port(), free_port()
    a = subprocess.Popen([sys.executable, "-m", "ladder", "serve", str(folder), "--port", str(pa), "--api-key", key,
                          "--runs", str(tmp / "runs")], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    b = subprocess.Popen([sys.executable, "-m", "llama_cpp.server", "--model", str(gguf), "--host", "127.0.0.1",
                          "--port", str(pb), "--n_ctx", "4096", "--n_threads", str(args.threads),
                          "--n_threads_batch", str(args.threads), "--model_alias", "smollm2"],
                         env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_ready(f"http://127.0.0.1:{pa}/health", a)
        wait_ready(f"http://127.0.0.1:{pb}/v1/models", b)
        msgs = {q: program.messages({"text": f"What is the capital of {c}?"}) for q, c in enumerate(COUNTRIES)}
        sides = {
            "ladder": (f"http://127.0.0.1:{pa}/v1/chat/completions", key,
                       lambda q: {"model": "capitals", "messages": [{"role": "user", "content": msgs[q][-1]["content"]}]}),
            "llama_cpp": (f"http://127.0.0.1:{pb}/v1/chat/completions", None,
                          lambda q: {"model": "smollm2", "messages": msgs[q], "max_tokens": args.max_tokens,
                                     "temperature": 0.0, "top_k": 1, "seed": 0, "repeat_penalty": 1.0}),
        }
        stats = {s: {"latencies": [], "errors": [], "seconds": 0.0, "answers": {}} for s in sides}
        for side in sides:  # warm-up: load weights, first prompt
            asyncio.run(one_round(sides[side][0], sides[side][1], sides[side][2], 1, 1, 0, {}))
        half = args.requests // 2
        for r, side in enumerate(["ladder", "llama_cpp", "llama_cpp", "ladder"]):
            per = half if r in (0, 1) else args.requests - half
            url, k, make = sides[side]
            t = time.perf_counter()
            lat, err = asyncio.run(one_round(url, k, make, args.clients, per, r * 13, stats[side]["answers"]))
            stats[side]["seconds"] += time.perf_counter() - t
            stats[side]["latencies"] += lat
            stats[side]["errors"] += err
            print(f"round {r + 1}: {side} {len(lat)} ok, {len(err)} errors, {time.perf_counter() - t:.0f} s", flush=True)
        rss = {"ladder": peak_rss_mb(a.pid), "llama_cpp": peak_rss_mb(b.pid)}
    finally:
        for p in (a, b):
            p.terminate()
            p.wait(20)
    result = {}
    for side, s in stats.items():
        lat = sorted(s["latencies"])
        n = len(lat) + len(s["errors"])
        result[side] = {"requests": n, "errors": len(s["errors"]), "error_examples": s["errors"][:3],
                        "throughput_rps": len(lat) / s["seconds"] if s["seconds"] else None,
                        "latency_p50_s": statistics.median(lat) if lat else None,
                        "latency_p95_s": lat[int(0.95 * (len(lat) - 1))] if lat else None,
                        "peak_rss_mb": rss[side], "wall_seconds": s["seconds"]}
    la, lb = result["ladder"], result["llama_cpp"]
    common = [q for q in stats["ladder"]["answers"] if q in stats["llama_cpp"]["answers"]]
    same = sum(stats["ladder"]["answers"][q].strip() == stats["llama_cpp"]["answers"][q].strip() for q in common)
    write(args.out, {
        "model": "smollm2-135m", "model_sha256": program.model.fingerprint, "gguf": str(gguf),
        "clients": args.clients, "requests_per_client": args.requests, "max_tokens": args.max_tokens,
        "max_tokens_note": "answers capped at max_tokens new tokens on both servers to keep the run under ~15 min",
        "llama_threads": args.threads, "rounds": "ladder, llama_cpp, llama_cpp, ladder (half the requests each pair)",
        "ladder": la, "llama_cpp": lb,
        "ratio_ladder_over_llama_cpp": {
            "throughput": la["throughput_rps"] / lb["throughput_rps"] if la["throughput_rps"] and lb["throughput_rps"] else None,
            "latency_p50": la["latency_p50_s"] / lb["latency_p50_s"] if la["latency_p50_s"] and lb["latency_p50_s"] else None,
            "latency_p95": la["latency_p95_s"] / lb["latency_p95_s"] if la["latency_p95_s"] and lb["latency_p95_s"] else None,
            "peak_rss": la["peak_rss_mb"] / lb["peak_rss_mb"]},
        "same_answer": {"questions": len(common), "identical": same, "note": SAME_NOTE},
        "notes": "Both servers run one llama.cpp context and answer one request at a time; ladder adds the saved "
                 "program's prompt server-side (clients send only the question). Latency includes queueing behind "
                 "the other 31 clients. Peak RSS is the server process's VmHWM.",
    })


if __name__ == "__main__":
    main()

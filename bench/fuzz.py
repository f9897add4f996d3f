"""Long fuzz runs over ladder's input boundaries: the targets of tests/fuzz (task files, JSONL, templates,
CLI options, index folders, the HTTP backend's answers), each for a time budget, in rounds of hypothesis
examples with a new seed each round. Records per target: inputs tried, how many gave a result and how many
the one error type (LadderError), and every other exception (unexpected: a bug), with its input.

    python bench/fuzz.py --target all --minutes 10          # under: flock /tmp/ladder-heavy.lock nice -n 5
    python bench/fuzz.py --target index --minutes 10        # one target; results merge into bench/results/fuzz.json
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import traceback
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import RESULTS  # noqa: E402

ROUND = 200  # hypothesis examples per seed


def target_runners(workdir: Path) -> dict:
    """name -> (strategy, check(value) -> outcome), with any setup (a CLI task, a pristine index) done once."""
    from hypothesis import strategies as st

    from tests.fuzz import targets as T

    def cli():
        T.register_fuzz_model()
        d = workdir / "cli"
        d.mkdir(exist_ok=True)
        task = T.write_cli_task(d)
        return T.CLI_ARGS, lambda args: T.check_cli_run(task, d / "runs.db", args)

    def index():
        pristine = T.build_fuzz_index(workdir / "index")
        return st.tuples(T.DAMAGE, st.booleans()), lambda v: T.check_index(pristine, v[0], v[1])

    runners = {name: (lambda s=s, c=c: (s, c)) for name, (s, c) in T.TARGETS.items()}
    runners.update(cli_options=cli, index=index)
    return runners


def fuzz(name: str, make, minutes: float) -> dict:
    from hypothesis import HealthCheck, given, seed, settings

    strategy, check = make()
    outcomes: Counter = Counter()
    found: dict[str, dict] = {}
    t0 = time.time()
    rounds = 0
    while time.time() - t0 < minutes * 60:
        def prop(value):
            try:
                outcomes[check(value)] += 1
            except BaseException:
                outcomes["unexpected"] += 1
                raise

        test = seed(rounds)(settings(max_examples=ROUND, deadline=None, database=None, derandomize=False,
                                     suppress_health_check=list(HealthCheck))(given(strategy)(prop)))
        try:
            test()
        except Exception as group:  # a falsified property: record each failure once per place it was raised
            for e in getattr(group, "exceptions", [group]):  # hypothesis groups distinct failures
                tb = traceback.extract_tb(e.__traceback__)
                where = f"{tb[-1].filename}:{tb[-1].lineno}" if tb else "?"
                key = f"{type(e).__name__} at {where}"
                if key not in found:
                    notes = "\n".join(getattr(e, "__notes__", []))
                    found[key] = {"exception": type(e).__name__, "message": str(e)[:500], "where": where,
                                  "input": notes[:2000], "round": rounds}
                    print(f"[{name}] FOUND {key}: {str(e)[:200]}", flush=True)
        rounds += 1
    seconds = time.time() - t0
    tried = sum(outcomes.values())
    print(f"[{name}] {tried} inputs in {seconds:.0f} s: {dict(outcomes)}; {len(found)} unexpected", flush=True)
    return {"seconds": round(seconds, 1), "rounds": rounds, "inputs_tried": tried, "outcomes": dict(outcomes),
            "unexpected": list(found.values())}


def _commit() -> str:
    import subprocess

    out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                         cwd=Path(__file__).resolve().parent.parent)
    return out.stdout.strip()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--target", default="all")
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--out", default=str(RESULTS / "fuzz.json"))
    args = ap.parse_args()
    out = Path(args.out)
    doc = json.loads(out.read_text()) if out.is_file() else {"bench": "fuzz", "targets": {}}
    with tempfile.TemporaryDirectory() as d:
        runners = target_runners(Path(d))
        names = list(runners) if args.target == "all" else args.target.split(",")
        for name in names:
            result = fuzz(name, runners[name], args.minutes)
            result["when"] = time.strftime("%Y-%m-%d %H:%M:%S")
            result["commit"] = _commit()
            previous = doc["targets"].get(name)
            if previous:  # earlier runs of the target (before fixes) stay on record
                doc.setdefault("earlier", []).append({"target": name, **previous})
            doc["targets"][name] = result
            doc["note"] = ("inputs_tried counts every input hypothesis generated (shrinking included); "
                           "'error' = the one error type (LadderError), 'unexpected' = any other exception (a bug)")
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(json.dumps(doc, indent=2) + "\n")  # after each target, so a killed run keeps the rest


if __name__ == "__main__":
    main()

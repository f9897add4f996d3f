"""Data-parallel fine-tuning: `torchrun --nproc_per_node 2 -m ladder finetune` on loopback (gloo)
converges like the one-process run on the same data, step for step."""
import json
import os
import shutil
import socket
import subprocess
import sys

import pytest

pytest.importorskip("peft")

from ladder.models import hf  # noqa: E402
from ladder.train.ddp import World, shard  # noqa: E402

WORDS = ["red apple", "green pear", "ripe plum", "sweet fig", "fresh lime", "sour lemon", "dry date", "wet grape",
         "old car", "fast bus", "slow train", "big truck", "small van", "blue bike", "new tram", "loud jet"]


def write_task(folder):
    rows = [{"text": w, "label": "fruit" if i < 8 else "vehicle"} for i, w in enumerate(WORDS)]
    train, test = rows[:6] + rows[8:14], rows[6:8] + rows[14:16]
    (folder / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in train))
    (folder / "test.jsonl").write_text("".join(json.dumps(r) + "\n" for r in test))
    (folder / "task.toml").write_text(
        'name = "things"\ninstruction = "Is it a fruit or a vehicle?"\ninput = "{text}"\noutput = "label"\n'
        'labels = ["fruit", "vehicle"]\ntrain = "train.jsonl"\ntest = "test.jsonl"\n')
    return folder / "task.toml"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


ARGS = ["--max-steps", "8", "--batch-size", "4", "--lr", "0.02", "--dropout", "0", "--rank", "4", "--json"]


def test_shard_splits_a_global_batch_without_overlap():
    batch = list(range(7))
    parts = [shard(batch, World(rank=r, size=2)) for r in range(2)]
    assert sorted(parts[0] + parts[1]) == batch and not set(parts[0]) & set(parts[1])


@pytest.mark.skipif(shutil.which("torchrun") is None and not os.path.exists(os.path.join(
    os.path.dirname(sys.executable), "torchrun")), reason="torchrun not installed")
@pytest.mark.integration
def test_two_processes_converge_like_one(tmp_path):
    task = write_task(tmp_path)
    base = hf.write_tiny_base(tmp_path / "base", WORDS + ["Is it a fruit or a vehicle?",
                                                          "Answer with exactly one of: fruit, vehicle."])
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    common = [str(task), "--model", str(base), *ARGS]
    one = subprocess.run([sys.executable, "-m", "ladder", "finetune", *common, "--out", str(tmp_path / "one")],
                         capture_output=True, text=True, env=env, timeout=600)
    assert one.returncode == 0, one.stderr[-2000:]
    torchrun = shutil.which("torchrun") or os.path.join(os.path.dirname(sys.executable), "torchrun")
    two = subprocess.run([torchrun, "--nproc_per_node", "2", "--master_addr", "127.0.0.1", "--master_port",
                          str(free_port()), "-m", "ladder", "finetune", *common, "--out", str(tmp_path / "two")],
                         capture_output=True, text=True, env=env, timeout=600)
    assert two.returncode == 0, two.stderr[-2000:]
    r1, r2 = json.loads(one.stdout), json.loads(two.stdout)  # rank 1 prints nothing, so this is one document
    assert r1["config"]["world_size"] == 1 and r2["config"]["world_size"] == 2 and r2["config"]["backend"] == "gloo"
    c1 = [p["loss"] for p in json.loads((tmp_path / "one" / "loss.json").read_text())["curve"]]
    c2 = [p["loss"] for p in json.loads((tmp_path / "two" / "loss.json").read_text())["curve"]]
    assert len(c1) == len(c2) == 8
    assert c1[-1] < 0.5 * c1[0]  # it converges...
    assert c2 == pytest.approx(c1, rel=1e-3, abs=1e-3)  # ...and two processes follow the same curve
    assert r2["usage"]["tokens_in"] == r1["usage"]["tokens_in"]  # the same data, split between the ranks

"""The one checkpoint format both trainers use (ladder.train.checkpoint), on a tiny torch module: no real weights."""
import json
import re

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("safetensors")

from ladder.errors import LadderError  # noqa: E402
from ladder.train import checkpoint, lora, lora_files  # noqa: E402
from ladder.train.lora_data import Pair  # noqa: E402
from ladder.train.pretrain import PretrainConfig, PretrainLoop, _fingerprint  # noqa: E402


def tiny(seed: int):
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Linear(3, 2))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    return model, opt


def step(model, opt):
    x = torch.arange(8.0).reshape(2, 4) / 8  # (B=2, 4)
    loss = model(x).pow(2).sum()
    opt.zero_grad()
    loss.backward()
    opt.step()


def lora_fp() -> str:
    pairs = [Pair([{"role": "user", "content": "the cat sat"}], "animal")]
    return lora.fingerprint(pairs, [], "base-fingerprint", lora.LoraConfig(), 1)


def pretrain_fp(tmp_path) -> str:
    return _fingerprint(str(tmp_path / "corpus.jsonl"), PretrainConfig(out=tmp_path / "out", params="250k"))


def test_a_resumed_optimizer_continues_exactly_like_an_uninterrupted_one(tmp_path):
    model, opt = tiny(0)
    step(model, opt)
    step(model, opt)
    checkpoint.save(tmp_path / "ck", "fp", {"step": 2, "curve": [1.5, 1.25]}, {"model": model.state_dict()}, opt)
    step(model, opt)  # the uninterrupted run's third step

    other, other_opt = tiny(1)  # different initial weights, fresh optimizer
    state, tensors = checkpoint.load(tmp_path / "ck", "fp", other_opt)
    other.load_state_dict(tensors["model"])
    step(other, other_opt)
    assert state == {"step": 2, "curve": [1.5, 1.25]}
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), other.state_dict().values()))


def test_no_checkpoint_is_none_and_a_finished_run_discards_every_sibling(tmp_path):
    model, opt = tiny(0)
    assert checkpoint.load(tmp_path / "ck", "fp", opt) is None
    checkpoint.save(tmp_path / "ck", "fp", {"step": 1}, {"model": model.state_dict()}, opt)
    (tmp_path / "ck.old").mkdir()
    checkpoint.discard(tmp_path / "ck")
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_a_lora_checkpoint_is_refused_by_pretraining_and_the_other_way_round(tmp_path):
    model, opt = tiny(0)
    step(model, opt)
    folder = tmp_path / "lora" / "checkpoint"
    lora_files.save_checkpoint(folder, lora_fp(), lora_files.LoopState(step=1).to_dict(), model, opt, None)
    with pytest.raises(LadderError, match=re.escape(str(folder)) + ": a checkpoint of a different run .* delete the folder"):
        checkpoint.load(folder, pretrain_fp(tmp_path), opt)  # what pretrain._resume asks

    folder = tmp_path / "pt" / "checkpoint"
    checkpoint.save(folder, pretrain_fp(tmp_path), PretrainLoop(step=1).to_dict(), {"model": model.state_dict()}, opt)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0)
    with pytest.raises(LadderError, match=re.escape(str(folder)) + ": a checkpoint of a different run"):
        lora_files.load_checkpoint(folder, lora_fp(), model, opt, sched)


def test_a_crash_between_the_two_renames_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    model, opt = tiny(0)
    folder = tmp_path / "checkpoint"
    checkpoint.save(folder, "fp", {"step": 1}, {"model": model.state_dict()}, opt)
    first = {k: v.clone() for k, v in model.state_dict().items()}
    step(model, opt)

    real = checkpoint.os.replace
    calls = []

    def crash_on_second(src, dst):
        calls.append((src, dst))
        if len(calls) == 2:  # checkpoint -> checkpoint.old done; checkpoint.tmp -> checkpoint not yet
            raise KeyboardInterrupt
        real(src, dst)

    monkeypatch.setattr(checkpoint.os, "replace", crash_on_second)
    with pytest.raises(KeyboardInterrupt):
        checkpoint.save(folder, "fp", {"step": 2}, {"model": model.state_dict()}, opt)
    monkeypatch.setattr(checkpoint.os, "replace", real)
    assert not folder.exists() and (tmp_path / "checkpoint.old" / "state.json").exists()

    state, tensors = checkpoint.load(folder, "fp", tiny(1)[1])  # the previous one is found and read
    assert state["step"] == 1 and all(torch.equal(first[k], tensors["model"][k]) for k in first)

    checkpoint.save(folder, "fp", {"step": 3}, {"model": model.state_dict()}, opt)  # the next save tidies up
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint"]
    assert checkpoint.load(folder, "fp", opt)[0]["step"] == 3


def test_a_half_written_save_is_ignored_and_cleared(tmp_path):
    model, opt = tiny(0)
    folder = tmp_path / "checkpoint"
    checkpoint.save(folder, "fp", {"step": 4}, {"model": model.state_dict()}, opt)
    (tmp_path / "checkpoint.tmp").mkdir()
    (tmp_path / "checkpoint.tmp" / "model.safetensors").write_bytes(b"\0\1")  # killed mid-write: no state.json
    assert checkpoint.load(folder, "fp", opt)[0]["step"] == 4
    checkpoint.save(folder, "fp", {"step": 5}, {"model": model.state_dict()}, opt)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint"]


def test_old_layouts_and_damaged_files_are_clear_errors(tmp_path):
    model, opt = tiny(0)
    folder = tmp_path / "checkpoint"
    folder.mkdir()
    (folder / "state.json").write_text(json.dumps({"version": 1, "fingerprint": "fp", "step": 3}))  # old LoRA layout
    with pytest.raises(LadderError, match=re.escape(str(folder)) + ": a checkpoint in another format .*delete the folder"):
        checkpoint.load(folder, "fp", opt)

    checkpoint.save(folder, "fp", {"step": 1}, {"model": model.state_dict()}, opt)
    (folder / "model.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(LadderError, match=r"model\.safetensors: unreadable checkpoint file"):
        checkpoint.load(folder, "fp", opt)


def test_loop_states_round_trip_through_json():
    loop = lora_files.LoopState(step=7, tokens=900, curve=[{"step": 7, "loss": 0.5}], best_dev=0.4, best_step=5,
                                bad=2, wall=3.5, cpu=7.0, out_of_time=True, best_weights={"w": torch.ones(2)})
    back = lora_files.LoopState.from_dict(json.loads(json.dumps(loop.to_dict())))
    assert "best_weights" not in loop.to_dict()  # tensors go to their own safetensors group
    assert back == loop and back.best_weights is None
    pt = PretrainLoop(step=3, wall=1.0, cpu=2.0, losses=[{"step": 3, "loss": 2.0}], nll_before=[4.0, 5.0])
    assert PretrainLoop.from_dict(json.loads(json.dumps(pt.to_dict()))) == pt


def test_loop_state_may_not_shadow_the_format_keys(tmp_path):
    model, opt = tiny(0)
    with pytest.raises(AssertionError):
        checkpoint.save(tmp_path / "ck", "fp", {"fingerprint": "x"}, {"model": model.state_dict()}, opt)

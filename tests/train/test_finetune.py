"""LoRA training loop on a tiny random LLaMA (hf.write_tiny_base): seconds, not minutes."""
import json

import pytest

pytest.importorskip("peft")

from ladder.errors import LadderError  # noqa: E402
from ladder.task import Task  # noqa: E402
from ladder.models import hf  # noqa: E402
from ladder.train import lora  # noqa: E402
from ladder.train.lora_data import IGNORE, Pair, encode, fit_epochs  # noqa: E402
from ladder.train.memory import estimate  # noqa: E402

ANIMALS = ["the cat sat", "a dog ran", "fish swim fast", "birds fly high", "cows eat grass", "a horse runs",
           "the goat climbs", "an owl hoots"]
WEATHER = ["the sun is hot", "snow is cold", "rain is wet", "fog is thick", "wind blows hard", "hail falls",
           "the storm came", "clouds drift by"]
INSTRUCTION = "Say if the text is about an animal or the weather."


def make_task(n_train: int = 6, dev: bool = False) -> Task:
    rows = [{"text": t, "label": "animal"} for t in ANIMALS] + [{"text": t, "label": "weather"} for t in WEATHER]
    train = rows[:n_train] + rows[8:8 + n_train]
    test = rows[6:8] + rows[14:16]
    return Task(name="tiny", instruction=INSTRUCTION, input="{text}", output="label", train=train, test=test,
                dev=rows[5:6] + rows[13:14] if dev else [], labels=["animal", "weather"])


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    words = ANIMALS + WEATHER + [INSTRUCTION, "Answer with exactly one of: animal, weather."]
    return str(hf.write_tiny_base(tmp_path_factory.mktemp("tiny") / "base", words))


FAST = dict(batch_size=4, lr=2e-2, dropout=0.0, rank=4, alpha=8, save_every=3)


def test_prompt_tokens_carry_no_loss_and_answer_ends_with_end_of_turn(tiny):
    _, tok = hf.load_base(tiny)
    ids, labels = encode(tok, Pair([{"role": "system", "content": INSTRUCTION},
                                    {"role": "user", "content": "the cat sat"}], "animal"))
    answer = [t for t in labels if t != IGNORE]
    assert tok.decode(answer[:1]) == "animal"
    assert answer[-1] == tok.eos_token_id and len(answer) == 2
    assert ids[-len(answer):] == answer and len(ids) == len(labels)


def test_training_lowers_the_loss_and_writes_the_run(tiny, tmp_path):
    res = lora.finetune(make_task(), tiny, tmp_path / "run", lora.LoraConfig(max_steps=15, **FAST), progress=False)
    losses = [p["loss"] for p in res.curve]
    assert len(losses) == res.steps == 15
    assert sum(losses[-3:]) / 3 < 0.7 * sum(losses[:3]) / 3
    run = json.loads((tmp_path / "run" / "run.json").read_text())
    assert run["usage"]["tokens_in"] == res.usage.tokens_in > 0
    assert run["flops"] == pytest.approx(6 * run["base"]["params"] * res.usage.tokens_in)
    assert run["usage"]["seconds"] > 0 and run["usage"]["cpu_seconds"] > 0
    assert json.loads((tmp_path / "run" / "loss.json").read_text())["curve"] == res.curve
    assert (tmp_path / "run" / "adapter" / "adapter_model.safetensors").exists()
    assert not (tmp_path / "run" / "checkpoint").exists()
    assert res.gguf is None  # an HF-folder base has no GGUF to put a LoRA on


def test_a_finished_run_is_reused_and_other_settings_are_refused(tiny, tmp_path):
    cfg = lora.LoraConfig(max_steps=3, **FAST)
    first = lora.finetune(make_task(), tiny, tmp_path / "run", cfg, progress=False)
    again = lora.finetune(make_task(), tiny, tmp_path / "run", cfg, progress=False)
    assert again.reused and not first.reused and again.curve == first.curve
    with pytest.raises(LadderError, match="other data or settings"):
        lora.finetune(make_task(), tiny, tmp_path / "run", lora.LoraConfig(max_steps=4, **FAST), progress=False)


def test_an_interrupted_run_resumes_to_the_same_result(tiny, tmp_path):
    cfg = lora.LoraConfig(max_steps=8, **FAST)
    whole = lora.finetune(make_task(), tiny, tmp_path / "whole", cfg, progress=False)

    def stop_at_5(step, loss):
        if step == 5:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        lora.finetune(make_task(), tiny, tmp_path / "cut", cfg, progress=False, callback=stop_at_5)
    state = json.loads((tmp_path / "cut" / "checkpoint" / "state.json").read_text())
    assert state["step"] == 5
    seen = []
    resumed = lora.finetune(make_task(), tiny, tmp_path / "cut", cfg, progress=False,
                            callback=lambda s, l: seen.append(s))
    assert seen == [6, 7, 8]  # only the steps that were missing
    assert [p["loss"] for p in resumed.curve] == pytest.approx([p["loss"] for p in whole.curve], abs=1e-4)


def test_dev_split_drives_early_stopping_and_keeps_the_best(tiny, tmp_path):
    cfg = lora.LoraConfig(max_steps=40, eval_every=1, patience=2, **{**FAST, "lr": 0.3})
    res = lora.finetune(make_task(dev=True), tiny, tmp_path / "run", cfg, progress=False)
    devs = [p["dev_loss"] for p in res.curve if "dev_loss" in p]
    assert devs and res.best_dev_loss == min(devs)
    # a learning rate this high makes dev loss bounce: it stops after `patience` evaluations without improvement
    assert res.stopped_early and res.steps < 40
    assert devs[-1] > res.best_dev_loss and devs[-2] > res.best_dev_loss
    assert res.meta["best_step"] < res.steps


def test_too_few_examples_is_a_clear_error(tiny, tmp_path):
    with pytest.raises(LadderError, match="4 training example.*at least 8"):
        lora.finetune(make_task(n_train=2), tiny, tmp_path / "run", lora.LoraConfig(**FAST), progress=False)


def test_examples_longer_than_max_len_are_refused_by_name(tiny, tmp_path):
    with pytest.raises(LadderError, match="train example 1 is [0-9]+ tokens, longer than max_len = 5"):
        lora.finetune(make_task(), tiny, tmp_path / "run", lora.LoraConfig(max_len=5, **FAST), progress=False)


def test_memory_estimate_refuses_with_numbers(tiny, tmp_path):
    with pytest.raises(LadderError, match=r"out-of-memory risk: this run needs ~[0-9.]+ GiB .* "
                                          r"but the limit is 0\.0 GiB; at micro-batch 1 x \d+ tokens, lower --max-len"):
        lora.finetune(make_task(), tiny, tmp_path / "run", lora.LoraConfig(max_memory_gb=0.01, **FAST),
                      progress=False)


def test_test_examples_never_reach_training(tiny, tmp_path):
    task = make_task()
    task.train.append(dict(task.test[0]))
    with pytest.raises(LadderError, match="1 test example"):
        lora.finetune(task, tiny, tmp_path / "run", lora.LoraConfig(**FAST), progress=False)


def test_unknown_option_names_the_choices():
    with pytest.raises(LadderError, match="unknown fine-tuning option 'epoch'.*epochs"):
        lora.LoraConfig.from_options({"epoch": 2})


def test_memory_estimate_grows_with_batch_and_length():
    shape = dict(d_model=576, n_layer=30, n_head=9, vocab=49152)
    small = estimate(135_000_000, 5_000_000, 1, 128, **shape)
    assert small.weights == pytest.approx(135e6 * 4 / 2 ** 30)
    assert estimate(135_000_000, 5_000_000, 8, 128, **shape).activations == pytest.approx(8 * small.activations)
    assert estimate(135_000_000, 5_000_000, 1, 256, **shape).activations > 2 * small.activations
    # projecting only the answer tokens onto the vocabulary shrinks the logits, nothing else
    answers = estimate(135_000_000, 5_000_000, 1, 128, logit_positions=4, **shape)
    assert answers.logits == pytest.approx(small.logits * 4 / 128) and answers.activations == small.activations


def test_fitted_epochs():
    assert fit_epochs(1000, 8) == 3 and fit_epochs(40, 8) == 6 and fit_epochs(50_000, 8) == 1


def test_finetune_rung_refuses_a_model_it_cannot_train():
    from ladder.rungs.finetune import compile
    from ladder.testing import DummyModel

    with pytest.raises(LadderError, match="needs a local GGUF model.*ladder distill"):
        compile(make_task(), DummyModel(name="openai/big"), {})


def test_adapter_cache_key_follows_task_base_and_config(tiny):
    from ladder.rungs.finetune import adapter_dir

    a = adapter_dir(make_task(), tiny, lora.LoraConfig())
    assert a == adapter_dir(make_task(), tiny, lora.LoraConfig())
    assert a != adapter_dir(make_task(), tiny, lora.LoraConfig(epochs=2))
    assert a != adapter_dir(make_task(n_train=5), tiny, lora.LoraConfig())


def test_cli_prints_one_line_and_exits_2_on_bad_input(tiny, tmp_path):
    rows = [{"text": t, "label": "animal"} for t in ANIMALS[:3]]
    (tmp_path / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (tmp_path / "test.jsonl").write_text(json.dumps({"text": "an owl hoots", "label": "animal"}) + "\n")
    (tmp_path / "task.toml").write_text(f'instruction = "{INSTRUCTION}"\noutput = "label"\nlabels = ["animal", "weather"]\n'
                                        'train = "train.jsonl"\ntest = "test.jsonl"\n')
    from ladder.testing import run_cli

    r = run_cli("finetune", str(tmp_path / "task.toml"), "--model", tiny, "--out", str(tmp_path / "run"))
    assert r.returncode == 2
    assert r.stderr.strip().splitlines() == [
        f"error: {tmp_path / 'task.toml'}: 3 training example(s); fine-tuning needs at least 8 "
        "(add labelled examples to the train split, or use the few-shot rung)"]
    assert not (tmp_path / "run").exists()


def test_answer_only_logits_give_the_full_loss(tiny):
    """The loss computed on the answer positions alone equals cross-entropy over all logits."""
    import torch
    import torch.nn.functional as F

    from ladder.train.lora import _token_loss
    from ladder.train.lora_data import collate

    model, tok = hf.load_base(tiny)
    rows = [encode(tok, Pair([{"role": "user", "content": t}], a)) for t, a in
            (("the cat sat", "animal"), ("rain and wind all day long", "weather"))]
    ids, mask, labels = collate(rows, tok.pad_token_id)
    with torch.no_grad():
        full = model(input_ids=ids, attention_mask=mask).logits
        expected = F.cross_entropy(full[:, :-1].reshape(-1, full.size(-1)), labels[:, 1:].reshape(-1),
                                   ignore_index=IGNORE, reduction="sum")
        assert _token_loss(model, ids, mask, labels).item() == pytest.approx(expected.item(), rel=1e-5)


def test_fine_tuning_prompts_leave_out_the_label_list():
    from ladder.prompts import system_prompt
    from ladder.rungs.base import Program
    from ladder.testing import DummyModel
    from ladder.train.lora_data import task_pairs

    task = make_task()
    listed = system_prompt(task)
    assert "Answer with exactly one of" in listed
    pair = task_pairs(task, task.train[:1])[0]
    assert pair.messages[0]["content"] == system_prompt(task, list_labels=False) == task.instruction.strip()
    served = Program("finetune", task, DummyModel(), list_labels=False)  # what the finetune rung builds
    assert served.messages(task.test[0]) == pair.messages[:1] + [{"role": "user", "content": task.render(task.test[0])}]

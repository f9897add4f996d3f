"""The finetune rung for real: SmolLM2-135M from its bundled GGUF, a LoRA trained with peft,
exported to a GGUF LoRA and served by llama.cpp on top of the same GGUF."""
import math

import pytest

pytest.importorskip("peft")
pytest.importorskip("llama_cpp")

from ladder.models.bundled import is_installed  # noqa: E402

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(not is_installed("smollm2-135m"), reason="bundled smollm2-135m not installed")]

OPTIONS = {"max_steps": 4, "batch_size": 2, "lr": 5e-3, "dropout": 0.0}


def first_token_logprobs(model, tok, messages, labels):
    """log p(first token of each label | prompt) from the HF model: what llama.cpp's label trie scores
    when the labels differ at their first token."""
    import torch

    from ladder.models.hf import chat_ids

    ids = torch.tensor([chat_ids(tok, messages, add_generation_prompt=True)])
    with torch.no_grad():
        logp = torch.log_softmax(model(input_ids=ids).logits[0, -1].float(), -1)
    firsts = {lab: tok(lab, add_special_tokens=False)["input_ids"][0] for lab in labels}
    assert len(set(firsts.values())) == len(labels)
    return {lab: float(logp[t]) for lab, t in firsts.items()}


def test_finetune_rung_trains_serves_through_llamacpp_and_reuses_the_adapter(sentiment_task):
    from peft import PeftModel

    from ladder.models import load_model
    from ladder.rungs import get_rung
    from ladder.task import load_task
    from ladder.models import hf

    task = load_task(sentiment_task)
    compile_ = get_rung("finetune")
    base = load_model("smollm2-135m")
    program = compile_(task, base, dict(OPTIONS))
    assert program.rung == "finetune" and program.config["steps"] == 4
    assert program.one_time.cpu_seconds > 0 and program.one_time.tokens_in > 0
    adapter = program.model.lora_path
    assert adapter and adapter.endswith("adapter.gguf")

    # The served program answers with a label, through constrained decoding over the labels.
    out = program(task.test[0])
    assert out.text in task.labels and set(out.choice_logprobs) == set(task.labels)

    # llama.cpp + GGUF LoRA agrees with transformers + peft on the same prompt (so the export is right),
    # and the adapter moved the scores away from the base model's.
    model, tok = hf.load_base("smollm2-135m")
    tuned = PeftModel.from_pretrained(model, str(program.config["adapter"]) + "/adapter")
    tuned.eval()
    moved = 0.0
    for ex in task.test:
        msgs = program.messages(ex)
        served = program.model.complete(msgs, choices=task.labels).choice_logprobs
        ref = first_token_logprobs(tuned, tok, msgs, task.labels)
        with tuned.disable_adapter():
            plain = first_token_logprobs(tuned, tok, msgs, task.labels)
        for lab in task.labels:
            assert served[lab] == pytest.approx(ref[lab], abs=0.35), (ex, lab, served, ref)
            moved = max(moved, abs(ref[lab] - plain[lab]))
        assert max(served, key=served.get) == max(ref, key=ref.get)
    assert moved > 0.5

    # Compiling again reuses the cached adapter, and still reports what training cost.
    again = compile_(task, base, dict(OPTIONS))
    assert again.model.lora_path == adapter
    assert again.one_time.cpu_seconds == pytest.approx(program.one_time.cpu_seconds)
    assert math.isfinite(again.config["final_loss"])

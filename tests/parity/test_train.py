"""The two-stage trainer end to end on the synthetic demo data and towers (written by medvqa in
the real open_clip / HF formats): loss falls, the PEFT adapter it writes loads into PEFT on
transformers' LlamaForCausalLM with the same weights, the base towers never change, and a run
resumed from a checkpoint ends with exactly the weights of an uninterrupted one."""
import hashlib
import json

import pytest
import torch
from safetensors.torch import load_file

from conftest import assert_user_error, write_config
from vqa_reference import write_few_items


def digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def metrics(run_dir):
    return [json.loads(l) for l in (run_dir / "metrics.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def two_stages(demo, run):
    """Stage 1, then stage 2 from its projector; the towers' digests before both."""
    towers = {p: digest(p) for p in (demo / "towers").rglob("*.safetensors")}
    run("train", "-c", write_config(demo, "s1", "align", demo / "s1"))
    run("train", "-c", write_config(demo, "s2", "lora", demo / "s2", max_steps=20))
    return towers


def test_two_stages_train_and_write_a_peft_adapter(demo, two_stages):
    towers = two_stages
    assert (demo / "s1/final/projector.safetensors").exists() and (demo / "s1/loss_curve.png").exists()
    losses = [m["loss"] for m in metrics(demo / "s2") if "loss" in m]
    assert losses[-1] < losses[0] - 1.0, f"stage 2 loss did not fall: {losses}"
    assert {p: digest(p) for p in towers} == towers, "the base towers changed on disk"

    from peft import PeftModel
    from transformers import LlamaForCausalLM
    base = LlamaForCausalLM.from_pretrained(demo / "towers/llm", torch_dtype=torch.float32)
    peft_model = PeftModel.from_pretrained(base, demo / "s2/final/adapter")
    ours = load_file(demo / "s2/final/adapter/adapter_model.safetensors")
    loaded = {k.replace(".default", ""): v for k, v in peft_model.state_dict().items() if "lora_" in k}
    assert sorted(loaded) == sorted(ours)
    for k, v in ours.items():
        assert torch.equal(loaded[k], v), k
    assert any(v.abs().sum() > 0 for k, v in ours.items() if "lora_B" in k), "LoRA B never trained"


def test_eval_writes_predictions_and_metrics_with_the_blind_baseline(demo, run, two_stages):
    cfg = write_config(demo, "ev", "lora", demo / "unused")
    out = demo / "eval"
    proc = run("eval", "-c", cfg, f"model.adapter={demo / 's2/final/adapter'}",
               f"model.projector_weights={demo / 's2/final/projector.safetensors'}", f"eval.out_dir={out}",
               "eval.max_new_tokens=4", "eval.batch_size=8")
    metrics = json.loads((out / "metrics.json").read_text())
    assert json.loads(proc.stdout) == metrics
    predictions = [json.loads(l) for l in (out / "predictions.jsonl").read_text().splitlines()]
    manifest = json.loads((demo / "data/split_manifest.json").read_text())
    assert sorted(p["question_id"] for p in predictions) == sorted(manifest["splits"]["test"])
    assert metrics["n"] == len(predictions)
    for key in ("open_accuracy", "lenient_accuracy", "token_f1", "qa_score", "blind_open_accuracy", "macro_open_accuracy"):
        assert 0.0 <= metrics[key] <= 1.0, key
    assert set(metrics["by_modality"]) <= {"CT(Computed Tomography)", "X-Ray", "MR (Mag-netic Resonance Imaging)",
                                           "Fundus Photography", "Microscopy Images", "ultrasound"}
    # The same predictions scored by `medvqa score` give the same metrics (one set of rules).
    scored = json.loads(run("score", "--predictions", out / "predictions.jsonl", "--json").stdout)
    assert scored["open_accuracy"] == metrics["open_accuracy"]
    # eval.floor: the same answers fail a floor just above their accuracy and pass one equal to it.
    accuracy = metrics["open_accuracy"]
    assert accuracy < 1.0, "a floor above the accuracy needs room below 1"
    again = [f"model.adapter={demo / 's2/final/adapter'}", f"model.projector_weights={demo / 's2/final/projector.safetensors'}",
             f"eval.out_dir={demo / 'eval_floor'}", "eval.max_new_tokens=4", "eval.batch_size=8", "eval.blind=false"]
    assert_user_error(run("eval", "-c", cfg, *again, f"eval.floor={accuracy + 1e-6}", check=False),
                      f"open-ended accuracy {accuracy:g} is below eval.floor=")
    assert json.loads(run("eval", "-c", cfg, *again, f"eval.floor={accuracy}").stdout)["open_accuracy"] == accuracy


def test_resume_ends_with_the_weights_of_an_uninterrupted_run(demo, run):
    straight = demo / "straight"
    run("train", "-c", write_config(demo, "straight", "align", straight, keep_last=5))
    # Resume the same config from the step-2 checkpoint the uninterrupted run wrote on its way.
    checkpoint = straight / "checkpoints/step_000000002"
    assert checkpoint.is_dir()
    resumed = demo / "resumed"
    run("train", "-c", write_config(demo, "resumed", "align", resumed, resume=str(checkpoint)))
    assert [m["step"] for m in metrics(resumed) if "loss" in m] == [3, 4, 5, 6]
    a = load_file(straight / "final/projector.safetensors")
    b = load_file(resumed / "final/projector.safetensors")
    for k in a:
        assert torch.equal(a[k], b[k]), f"{k}: max abs diff {(a[k] - b[k]).abs().max()}"


def test_bad_configs_are_clean_errors(demo, run, tmp_path):
    cfg = write_config(demo, "bad", "align", tmp_path / "bad")
    assert_user_error(run("train", "-c", cfg, "model.vision=/nonexistent", check=False), "/nonexistent")
    assert_user_error(run("train", "-c", cfg, "train.stage=lorra", check=False), "did you mean 'lora'")


def test_a_long_question_is_cut_counted_and_never_its_options(demo, run, tmp_path):
    """data.max_seq_len cuts only the question's own text: the closed form's options and the answer
    stay, the cut items are counted in a warning and in metrics.jsonl, and an item whose options and
    answer alone do not fit is an error naming it."""
    items = [json.loads(l) for l in write_few_items(demo / "data", 3, tmp_path / "few.jsonl").read_text().splitlines()]
    items[0]["question"] = "Which organ is shown in this very long question? " * 30
    for item in items:
        item["options"] = [item["answer"], "none of these"]
    data = tmp_path / "long.jsonl"
    data.write_text("".join(json.dumps(i) + "\n" for i in items))
    cfg = write_config(demo, "cut", "align", tmp_path / "cut")
    common = [f"data.root={data}", "data.format=jsonl", "data.question_form=closed", "data.max_seq_len=160",
              "train.max_steps=1", "train.batch_size=3"]
    proc = run("train", "-c", cfg, *common)
    assert "data: 1 of 3 items had their question cut to fit data.max_seq_len=160" in proc.stderr, proc.stderr
    assert metrics(tmp_path / "cut")[0] == {"step": 0, "train_items": 3, "truncated_items": 1}
    dump = tmp_path / "batch.safetensors"
    run("grad-check", "-c", cfg, *common, "--out", dump)
    ids = load_file(dump)["batch.input_ids"]
    assert ids.shape[1] == 160
    tail = run("tokenize", "--tokenizer", demo / "towers/llm", "--text",
               " Only return what you think is the correct answer from the candidate answers, do not return any other "
               "irrelevant text!").stdout
    assert ",".join(map(str, json.loads(tail))) in ",".join(map(str, ids[0].tolist())), \
        "the cut item lost the end of its options' instruction"
    items[1]["options"] = ["a very long option " * 40, items[1]["answer"]]
    data.write_text("".join(json.dumps(i) + "\n" for i in items))
    assert_user_error(run("train", "-c", cfg, *common, check=False), "does not fit data.max_seq_len=160",
                      "options and answer")

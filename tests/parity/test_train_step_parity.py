"""One training step of medvqa against the same step in PyTorch: open_clip's vision tower from the
same open_clip directory, the projector, transformers' LlamaForCausalLM with PEFT LoRA (the same
r/alpha/targets and initial weights), on the same batch (input ids, labels, mask and pixels read
back from `medvqa grad-check`, so the inputs are identical): the loss and every projector and LoRA
gradient agree, for stage 1 (align) and stage 2 (lora, fresh and after training). A trained
adapter loaded by PEFT gives medvqa's logits (`medvqa generate --adapter --dump-logits`)."""
import json
import math
import subprocess

import pytest
import torch
from peft import LoraConfig, PeftModel, get_peft_model, set_peft_model_state_dict
from safetensors.torch import load_file
from transformers import LlamaForCausalLM

from conftest import assert_user_error
from vqa_reference import (Projector, VqaReference, load_open_clip_tower, make_demo, peft_key, write_config,
                           write_few_items)

LOSS_TOLERANCE = 1e-5    # abs, fp32: the mean token cross-entropy of the step (~1e1)
GRAD_REL_TOLERANCE = 1e-5  # fp32: max abs diff of each gradient over its own largest magnitude
LOGITS_TOLERANCE = 1e-4  # max abs, fp32: the adapted LLaMA's logits
# bf16 autocast, 10 steps: both round every matmul to bf16 in their own kernels (and medvqa runs
# attention without a mask on right-padded rows): the curves agree to this relative difference,
# while the fp32 curve differs from both by more than BF16_VISIBLE.
AUTOCAST_CURVE_REL_TOLERANCE = 1e-2
BF16_VISIBLE = 1e-4
CURVE_STEPS = 10
BATCH = 4
TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
LORA = {"r": 8, "alpha": 16, "dropout": 0.0, "targets": TARGETS}


@pytest.fixture(scope="module")
def demo(tmp_path_factory, medvqa_bin):
    return make_demo(medvqa_bin, tmp_path_factory.mktemp("step"))


def grad_check(run, demo, name, stage, model):
    cfg = write_config(demo / f"{name}.json", demo / "towers", demo / "data", stage, demo / name, model=model,
                       train={"batch_size": BATCH})
    out = demo / f"{name}.safetensors"
    run("grad-check", "-c", cfg, "--out", out)
    return load_file(out)


def reference_step(demo, dump, feature_layer, llm):
    """The PyTorch step on the dumped batch with the dumped projector: (loss, {medvqa name: grad})."""
    tower = load_open_clip_tower(demo / "towers/vision")
    hidden = llm.get_input_embeddings().weight.shape[1]
    projector = Projector("mlp2x_gelu", tower.trunk.embed_dim, hidden)
    projector.load_state_dict({k[len("weight.projector."):]: v for k, v in dump.items()
                               if k.startswith("weight.projector.")})
    model = VqaReference(tower, projector, llm, feature_layer=feature_layer)
    model.train()
    tower.eval()
    out = model(dump["batch.input_ids"], dump["batch.attention_mask"].long(), dump["batch.labels"], dump["batch.pixels"])
    out.loss.backward()
    grads = {"projector." + k: p.grad for k, p in projector.named_parameters()}
    for k, p in llm.named_parameters():
        if p.requires_grad:
            grads[k.replace(".default", "")] = p.grad
    for k, p in tower.named_parameters():
        assert p.grad is None, f"the frozen tower got a gradient: {k}"
    return out.loss.detach(), grads


def assert_close(name, got, want, tolerance):
    assert got is not None and want is not None, f"{name}: missing gradient"
    assert got.shape == want.shape, f"{name}: shape {list(got.shape)} != {list(want.shape)}"
    diff = (got.double() - want.double()).abs()
    worst = float(diff.max()) if diff.numel() else 0.0
    assert worst <= tolerance, f"{name}: max abs diff {worst:.3g} > {tolerance} at {divmod(int(diff.argmax()), diff.shape[-1])}"
    return worst


def assert_gradient_close(name, got, want, may_be_zero):
    """Relative to the gradient's own scale; a gradient that is zero by construction (LoRA A while B
    is still zero) must be exactly zero on both sides, any other must be non-trivial."""
    scale = float(want.abs().max())
    if scale == 0:
        assert may_be_zero, f"{name}: the reference gradient is zero, the comparison would test nothing"
        assert float(got.abs().max()) == 0, f"{name}: should be exactly zero, max abs {float(got.abs().max()):.3g}"
        return 0.0
    worst = assert_close(name, got, want, GRAD_REL_TOLERANCE * scale)
    return worst / scale


def assert_step_matches(dump, loss, grads, may_be_zero=lambda name: False):
    loss_diff = abs(float(dump["loss"]) - float(loss))
    print(f"loss medvqa {float(dump['loss']):.7f} PyTorch {float(loss):.7f} diff {loss_diff:.3g}")
    assert loss_diff <= LOSS_TOLERANCE, f"loss: abs diff {loss_diff:.3g} > {LOSS_TOLERANCE}"
    ours = {k[len("grad."):]: v for k, v in dump.items() if k.startswith("grad.")}
    theirs = {k if k.startswith("projector.") else "llm." + k[len("base_model.model."):]: v for k, v in grads.items()}
    assert sorted(ours) == sorted(theirs), "medvqa and PyTorch train different parameters"
    worst = max(assert_gradient_close(k, ours[k], theirs[k], may_be_zero(k)) for k in ours)
    print(f"{len(ours)} gradients, max abs diff relative to each one's largest magnitude {worst:.3g}")
    return ours


def base_llm(demo):
    return LlamaForCausalLM.from_pretrained(demo / "towers/llm", dtype=torch.float32)


def test_stage1_align_step_matches_pytorch(demo, run):
    # feature_layer unset: medvqa's default is hidden state -2 (LLaVA's mm_vision_select_layer).
    dump = grad_check(run, demo, "align", "align", {})
    llm = base_llm(demo)
    llm.requires_grad_(False)
    ours = assert_step_matches(dump, *reference_step(demo, dump, -2, llm))
    assert all(k.startswith("projector.") for k in ours)
    assert int((dump["batch.labels"] != -100).sum()) > 0 and bool((~dump["batch.attention_mask"]).any()), \
        "the batch should hold labels and right padding"


def test_stage2_lora_step_matches_peft(demo, run):
    dump = grad_check(run, demo, "lora", "lora", {"feature_layer": -1, "lora": LORA})
    llm = get_peft_model(base_llm(demo), LoraConfig(r=LORA["r"], lora_alpha=LORA["alpha"], lora_dropout=0.0,
                                                    target_modules=TARGETS))
    # medvqa's fresh adapter (A random, B zero) into PEFT, so both start from the same weights.
    result = set_peft_model_state_dict(llm, {peft_key(k[len("weight."):]): v for k, v in dump.items()
                                             if k.startswith("weight.llm.")})
    assert not result.unexpected_keys
    ours = assert_step_matches(dump, *reference_step(demo, dump, -1, llm), may_be_zero=lambda name: "lora_A" in name)
    assert sum("lora_B" in k for k in ours) == 2 * len(TARGETS)  # 2 layers of the demo LLaMA
    assert all(float(v.abs().max()) > 0 for k, v in ours.items() if "lora_B" in k)


@pytest.fixture(scope="module")
def trained(demo, medvqa_bin):
    """A short stage-2 run: final/adapter (B no longer zero, so A has gradients) and the projector."""
    cfg = write_config(demo / "trained.json", demo / "towers", demo / "data", "lora", demo / "trained",
                       model={"feature_layer": -1, "lora": LORA},
                       train={"batch_size": BATCH, "max_steps": 3, "lr": 1e-2, "projector_lr": 1e-3, "save_every": 0})
    subprocess.run([str(medvqa_bin), "train", "-c", str(cfg)], check=True, capture_output=True)
    return demo / "trained/final"


def test_stage2_step_from_a_saved_adapter_matches_peft(demo, run, trained):
    dump = grad_check(run, demo, "resumed_lora", "lora",
                      {"feature_layer": -1, "lora": LORA, "adapter": str(trained / "adapter"),
                       "projector_weights": str(trained / "projector.safetensors")})
    projector = load_file(trained / "projector.safetensors")
    assert all(torch.equal(dump["weight.projector." + k], v) for k, v in projector.items())
    llm = PeftModel.from_pretrained(base_llm(demo), trained / "adapter", is_trainable=True)
    ours = assert_step_matches(dump, *reference_step(demo, dump, -1, llm))
    assert all(float(v.abs().max()) > 0 for v in ours.values()), "every gradient should be non-zero here"


def test_saved_adapter_gives_peft_logits(demo, run, trained, tmp_path):
    ids = [128000, 128006, 882, 128007, 271, 3923, 374, 279, 17706, 30, 128009, 128006, 78191, 128007, 271]
    out = tmp_path / "logits.safetensors"
    run("generate", "--model", demo / "towers/llm", "--adapter", trained / "adapter", "--ids", ",".join(map(str, ids)),
        "--max-new-tokens", "0", "--dump-logits", out, "--dtype", "fp32", "--device", "cpu", "--threads", "1")
    ours = load_file(out)["logits"]
    model = PeftModel.from_pretrained(base_llm(demo), trained / "adapter").eval()
    with torch.no_grad():
        theirs = model(torch.tensor([ids])).logits[0]
        plain = base_llm(demo)(torch.tensor([ids])).logits[0]
    worst = assert_close("logits", ours, theirs, LOGITS_TOLERANCE)
    print(f"logits [{len(ids)}, {ours.shape[1]}]: max abs diff {worst:.3g}")
    assert float((theirs - plain).abs().max()) > 100 * LOGITS_TOLERANCE, "the adapter should change the logits"


def test_bad_grad_check_inputs_are_clean_errors(demo, run, tmp_path):
    cfg = write_config(tmp_path / "bad.json", demo / "towers", demo / "data", "align", tmp_path / "bad")
    assert_user_error(run("grad-check", "-c", cfg, "--out", tmp_path / "g.safetensors", "model.adapter=/nonexistent",
                          check=False), "/nonexistent")
    assert_user_error(run("generate", "--model", demo / "towers/llm", "--adapter", tmp_path, "--ids", "1,2",
                          "--max-new-tokens", "0", check=False), "adapter_config.json")


@pytest.mark.parametrize("key,value", [("rank_pattern", {"q_proj": 4}), ("alpha_pattern", {"v_proj": 32})])
def test_per_layer_ranks_and_alphas_are_refused_by_name(demo, run, trained, tmp_path, key, value):
    """PEFT's rank_pattern / alpha_pattern give some layers another r or lora_alpha; loading such an
    adapter with one r and alpha everywhere would be silently wrong."""
    import json
    import shutil
    adapter = tmp_path / "adapter"
    shutil.copytree(trained / "adapter", adapter)
    cfg = json.loads((adapter / "adapter_config.json").read_text())
    assert cfg.get(key, {}) == {}, "PEFT's own file holds {}"
    cfg[key] = value
    (adapter / "adapter_config.json").write_text(json.dumps(cfg))
    assert_user_error(run("generate", "--model", demo / "towers/llm", "--adapter", adapter, "--ids", "1,2",
                          "--max-new-tokens", "0", check=False), f"adapter_config.json: key \"{key}\": expected {{}}",
                      next(iter(value)))


def test_bf16_autocast_loss_curve_matches_pytorch_autocast(demo, run, tmp_path):
    """10 stage-2 steps under bf16 autocast (fp32 masters, AdamW, cosine schedule, clipping) on one
    batch of 8 items, against the same steps in PyTorch: open_clip + transformers + PEFT under
    torch.autocast("cpu", bfloat16) from medvqa's initial weights (grad-check's dump)."""
    from transformers import get_cosine_schedule_with_warmup
    data = write_few_items(demo / "data", BATCH * 2, tmp_path / "eight.jsonl")
    lora = {**LORA, "r": 4}
    train = {"batch_size": BATCH * 2, "max_steps": CURVE_STEPS, "lr": 1e-3, "projector_lr": 1e-3, "warmup_ratio": 0.1,
             "save_every": 0, "autocast": "bf16"}
    curves = {}
    for name, autocast in (("bf16", "bf16"), ("fp32", "none")):
        cfg = write_config(tmp_path / f"{name}.json", demo / "towers", data, "lora", tmp_path / name,
                           model={"feature_layer": -1, "lora": lora, "threads": 2},
                           train={**train, "autocast": autocast}, data_extra={"format": "jsonl"})
        run("train", "-c", cfg)
        curves[name] = [json.loads(l)["loss"] for l in (tmp_path / name / "metrics.jsonl").read_text().splitlines()
                        if "loss" in json.loads(l)]
    dump_path = tmp_path / "start.safetensors"
    run("grad-check", "-c", tmp_path / "bf16.json", "--out", dump_path)
    dump = load_file(dump_path)

    llm = get_peft_model(base_llm(demo), LoraConfig(r=lora["r"], lora_alpha=lora["alpha"], lora_dropout=0.0,
                                                    target_modules=TARGETS))
    assert not set_peft_model_state_dict(llm, {peft_key(k[len("weight."):]): v for k, v in dump.items()
                                               if k.startswith("weight.llm.")}).unexpected_keys
    tower = load_open_clip_tower(demo / "towers/vision").eval()
    projector = Projector("mlp2x_gelu", tower.trunk.embed_dim, llm.get_input_embeddings().weight.shape[1])
    projector.load_state_dict({k[len("weight.projector."):]: v for k, v in dump.items() if k.startswith("weight.projector.")})
    model = VqaReference(tower, projector, llm, feature_layer=-1).train()
    tower.eval()
    lora_params = [p for p in llm.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW([{"params": list(projector.parameters()), "lr": train["projector_lr"]},
                                   {"params": lora_params, "lr": train["lr"]}], weight_decay=0.0)
    schedule = get_cosine_schedule_with_warmup(optimizer, math.ceil(train["warmup_ratio"] * CURVE_STEPS), CURVE_STEPS)
    theirs = []
    for _ in range(CURVE_STEPS):
        with torch.autocast("cpu", dtype=torch.bfloat16):
            loss = model(dump["batch.input_ids"], dump["batch.attention_mask"].long(), dump["batch.labels"],
                         dump["batch.pixels"]).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(list(projector.parameters()) + lora_params, 1.0)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad()
        theirs.append(float(loss.detach()))
    ours = curves["bf16"]
    rel = [abs(a - b) / abs(b) for a, b in zip(ours, theirs)]
    print(f"loss medvqa {[round(x, 5) for x in ours]}\nloss PyTorch {[round(x, 5) for x in theirs]}\n"
          f"max relative difference {max(rel):.3g}; fp32 curve {[round(x, 5) for x in curves['fp32']]}")
    assert len(ours) == len(theirs) == CURVE_STEPS
    assert theirs[-1] < theirs[0] - 0.1, f"the curve should fall: {theirs}"
    assert max(rel) <= AUTOCAST_CURVE_REL_TOLERANCE, f"step {rel.index(max(rel)) + 1}: relative difference {max(rel):.3g}"
    assert max(abs(a - b) / abs(b) for a, b in zip(curves["fp32"], theirs)) > BF16_VISIBLE, "was bf16 compute used?"

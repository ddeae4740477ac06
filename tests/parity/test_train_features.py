"""Issue-5 training features end to end on the demo towers: trainable special-token rows saved in
PEFT's trainable_token_indices format (PEFT loads them and gives medvqa's logits), activation
checkpointing that trains exactly like the plain run, bf16 autocast on CPU within a bf16
tolerance of fp32 with fp32 weights, and `config --estimate` counting parameters as the Python
libraries do."""
import json

import pytest
import torch
from safetensors.torch import load_file

from conftest import ROOT, assert_user_error, write_config
from test_train import metrics
from test_vit import build_tower

LOGITS_TOL = 1e-4          # fp32, different GEMM blocking (medvqa vs transformers)
BF16_LOSS_REL_TOL = 0.02   # bf16 keeps 8 mantissa bits: ~0.4% per op, a few percent over a network
CHAT_SPECIALS = [128000, 128006, 128007, 128009]  # bos, start/end header, eot


def lora_config(demo, name, **model):
    """A stage-2 config on the demo towers with a fresh projector (no stage-1 run needed)."""
    path = write_config(demo, name, "lora", demo / name, max_steps=2, save_every=0)
    cfg = json.loads(path.read_text())
    del cfg["model"]["projector_weights"]
    cfg["model"].update(model)
    path.write_text(json.dumps(cfg))
    return path


def test_special_rows_adapter_loads_in_peft_with_the_same_logits(demo, run, tmp_path):
    run("train", "-c", lora_config(demo, "rows", train_special_rows=True))
    adapter = demo / "rows/final/adapter"
    cfg = json.loads((adapter / "adapter_config.json").read_text())
    assert cfg["trainable_token_indices"] == {"embed_tokens": CHAT_SPECIALS, "lm_head": CHAT_SPECIALS}
    ours = load_file(adapter / "adapter_model.safetensors")
    rows = {k: v for k, v in ours.items() if "trainable_tokens_delta" in k}
    assert sorted(rows) == ["base_model.model.lm_head.token_adapter.trainable_tokens_delta",
                            "base_model.model.model.embed_tokens.token_adapter.trainable_tokens_delta"]

    from peft import PeftModel
    from transformers import LlamaForCausalLM
    base = LlamaForCausalLM.from_pretrained(demo / "towers/llm", torch_dtype=torch.float32)
    base_embed = base.model.embed_tokens.weight[CHAT_SPECIALS].clone()
    trained = rows["base_model.model.model.embed_tokens.token_adapter.trainable_tokens_delta"]
    assert (trained - base_embed).abs().max() > 0, "the special rows never trained"
    model = PeftModel.from_pretrained(base, adapter).eval()
    loaded = {k.replace(".default", ""): v for k, v in model.state_dict().items() if "trainable_tokens_delta" in k}
    for k, v in rows.items():
        assert torch.equal(loaded[k], v), k

    ids = [128000, 128006, 882, 128007, 271, 3923, 374, 420, 30, 128009, 128006, 78191, 128007, 271]
    run("generate", "--model", demo / "towers/llm", "--adapter", adapter, "--ids", ",".join(map(str, ids)),
        "--max-new-tokens", "1", "--device", "cpu", "--dtype", "fp32", "--dump-logits", tmp_path / "logits.safetensors")
    got = load_file(tmp_path / "logits.safetensors")["logits"]
    with torch.no_grad():
        want = model(torch.tensor([ids])).logits[0]
    diff = (got - want).abs()
    assert diff.max() <= LOGITS_TOL, f"max abs diff {diff.max():.3g} at {divmod(int(diff.argmax()), diff.shape[1])}"


def test_special_rows_need_the_lora_stage(demo, run):
    cfg = write_config(demo, "rows_align", "align", demo / "rows_align")
    assert_user_error(run("train", "-c", cfg, "model.train_special_rows=true", check=False), "model.train_special_rows",
                      "stage lora")


@pytest.mark.parametrize("every", [1, 2])
def test_gradient_checkpointing_trains_exactly_like_the_plain_run(demo, run, every):
    """Every layer recomputed, or every second one (model.checkpoint_every=2)."""
    lora = {"r": 8, "alpha": 16, "dropout": 0.05}  # the recomputation must replay the dropout masks
    if not (demo / "plain").exists():
        run("train", "-c", lora_config(demo, "plain", lora=lora))
    out = f"ckpt{every}"
    proc = run("train", "-c", lora_config(demo, out, lora=lora, gradient_checkpointing=True, checkpoint_every=every))
    # The same ops recomputed in the same order: bit for bit.
    assert [m["loss"] for m in metrics(demo / "plain") if "loss" in m] == \
        [m["loss"] for m in metrics(demo / out) if "loss" in m]
    a = load_file(demo / "plain/final/adapter/adapter_model.safetensors")
    b = load_file(demo / out / "final/adapter/adapter_model.safetensors")
    for k in a:
        assert torch.equal(a[k], b[k]), f"{k}: max abs weight diff {(a[k] - b[k]).abs().max().item():.3g}"
    # The first training attention names SDPA's kernel: right-padded batches run causal, without a mask.
    assert "llama: training attention on cpu (causal, no mask" in proc.stderr, proc.stderr


def test_bf16_autocast_on_cpu_is_close_to_fp32_and_keeps_fp32_weights(demo, run):
    run("train", "-c", lora_config(demo, "fp32"), "train.autocast=none")
    run("train", "-c", lora_config(demo, "bf16"), "train.autocast=bf16")
    fp32 = [m["loss"] for m in metrics(demo / "fp32") if "loss" in m]
    bf16 = [m["loss"] for m in metrics(demo / "bf16") if "loss" in m]
    assert bf16[0] == pytest.approx(fp32[0], rel=BF16_LOSS_REL_TOL), (bf16, fp32)
    assert bf16[0] != fp32[0], "autocast changed nothing: was bf16 compute used?"
    for f in ("final/adapter/adapter_model.safetensors", "final/projector.safetensors"):
        assert {v.dtype for v in load_file(demo / "bf16" / f).values()} == {torch.float32}, f


def test_bf16_base_keeps_fp32_trainables_bit_for_bit(demo, run):
    """A bf16 model training under autocast holds its trainables as fp32 masters: a stage-1 fp32
    projector and an fp32 adapter enter stage 2 unrounded (lr 0 leaves them as loaded). The old
    code built them in bf16 and cast to fp32 afterwards, losing 16 bits of each."""
    run("train", "-c", lora_config(demo, "fp32_src"), "train.autocast=none")
    src = demo / "fp32_src/final"
    cfg = lora_config(demo, "bf16_continue", projector_weights=str(src / "projector.safetensors"),
                      adapter=str(src / "adapter"), dtype="bf16")
    run("train", "-c", cfg, "train.autocast=bf16", "train.lr=0", "train.projector_lr=0", "train.max_steps=1")
    for f in ("projector.safetensors", "adapter/adapter_model.safetensors"):
        want, got = load_file(src / f), load_file(demo / "bf16_continue/final" / f)
        assert sorted(want) == sorted(got), f
        lossy = [k for k in want if not torch.equal(want[k], want[k].bfloat16().float())]
        assert lossy, f"{f}: every value is a bf16 value, the test would not see a rounding"
        for k in want:
            assert got[k].dtype == torch.float32 and torch.equal(got[k], want[k]), \
                f"{f} {k}: max abs diff {(got[k] - want[k]).abs().max().item():.3g}"


def test_estimate_counts_parameters_as_the_python_libraries(demo, run):
    from open_clip.model import _build_vision_tower
    from peft import LoraConfig, get_peft_model
    from transformers import LlamaConfig, LlamaForCausalLM

    cfg = lora_config(demo, "est", train_special_rows=True)
    got = json.loads(run("config", "-c", cfg, "--estimate", "--json").stdout)["parameters"]
    clip = json.loads((demo / "towers/vision/open_clip_config.json").read_text())
    vision = build_tower(clip)  # applies the demo's timm_model_kwargs as open_clip's loader does
    assert got["vision"] == sum(p.numel() for p in vision.parameters())
    llm = LlamaForCausalLM.from_pretrained(demo / "towers/llm")
    assert got["llm"] == sum(p.numel() for p in llm.parameters())
    peft_model = get_peft_model(llm, LoraConfig(r=8, lora_alpha=16, target_modules=[
        "q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
        trainable_token_indices={"embed_tokens": CHAT_SPECIALS, "lm_head": CHAT_SPECIALS}))
    named = dict(peft_model.named_parameters())
    assert got["lora"] == sum(v.numel() for k, v in named.items() if "lora_" in k)
    assert got["token_rows"] == sum(v.numel() for k, v in named.items() if "trainable_tokens_delta" in k)
    hidden, width = llm.config.hidden_size, vision.trunk.embed_dim
    assert got["projector"] == width * hidden + hidden + hidden * hidden + hidden  # mlp2x_gelu

    # The paper's shapes (config files only): BiomedCLIP ViT-B/16 and LLaMA-3-8B, counted by open_clip
    # and by transformers on the meta device.
    shapes = ROOT / "tests/data/shapes"
    est = json.loads(run("config", "-c", cfg, f"model.vision={shapes / 'biomedclip'}", f"model.llm={shapes / 'llama3_8b'}",
                         "--estimate", "--json", "--gpus", "2").stdout)
    clip = json.loads((shapes / "biomedclip/open_clip_config.json").read_text())["model_cfg"]
    with torch.device("meta"):
        vision = _build_vision_tower(clip["embed_dim"], clip["vision_cfg"])
        llama8b = LlamaForCausalLM(LlamaConfig(**json.loads((shapes / "llama3_8b/config.json").read_text())))
    assert est["parameters"]["vision"] == sum(p.numel() for p in vision.parameters())
    assert est["parameters"]["llm"] == sum(p.numel() for p in llama8b.parameters()) == 8030261248
    memory = est["bytes_per_gpu"]
    assert memory["checkpointing_on"]["activations"] < memory["checkpointing_off"]["activations"]
    assert memory["checkpointing_on"]["nccl_buffers"] > 0 and memory["checkpointing_on"]["autocast_copies"] > 0
    every2 = json.loads(run("config", "-c", cfg, f"model.vision={shapes / 'biomedclip'}", f"model.llm={shapes / 'llama3_8b'}",
                            "model.checkpoint_every=2", "--estimate", "--json", "--gpus", "2").stdout)["bytes_per_gpu"]
    assert (memory["checkpointing_on"]["activations"] < every2["checkpointing_on"]["activations"]
            < memory["checkpointing_off"]["activations"])


def test_estimate_errors_are_clean(demo, run, tmp_path):
    cfg = lora_config(demo, "est_bad")
    assert_user_error(run("config", "-c", cfg, f"model.llm={tmp_path}", "--estimate", check=False),
                      "neither config.json (HF) nor params.json (Meta) found")
    assert_user_error(run("config", "-c", cfg, "--estimate", "--gpus", "0", check=False), "--gpus")

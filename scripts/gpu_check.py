"""The comparisons of scripts/gpu-check.sh that need Python: medvqa on a device (cuda on the GPU
machine) against transformers / open_clip on the same device, against itself on the CPU, and the
step time of an 8B-shaped model. One subcommand per check; each prints what it measured, writes its
key figures as JSON to $STEP_FIGURES (when set) and exits 1 when a figure is out of bounds. The tiny
models and the demo come from the parity tests' own helpers (tests/parity).

    python scripts/gpu_check.py {llama,vit,grad,checkpointing,step8b} --bin build/medvqa --work DIR [--device cuda]
        [--demo DIR]
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "parity"))
from test_llama import BASE, PROMPT  # noqa: E402
from test_vit import TINY_KWARGS, biomedclip_config, build_tower, reference, save_open_clip_dir  # noqa: E402
from vqa_reference import make_demo, write_config  # noqa: E402

# medvqa vs the Python library on the same device and dtype: other kernels, same arithmetic.
LOGITS_TOL = {"fp32": 1e-3, "bf16": 5e-2}
VIT_TOL = {"fp32": 1e-3, "bf16": 0.1}
GRAD_REL_TOL = 1e-3  # cuda vs cpu gradients, relative to the largest gradient of the tensor
CHECKPOINTING_REL_TOL = 1e-5  # recomputation with the replayed RNG: the same dropout masks
TORCH_DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}
# The 8B-shaped model: LLaMA-3-8B's widths, 8 of its 32 layers; bf16 dense peak of an H100/H200 SXM.
LLAMA_8B = dict(vocab_size=128256, hidden_size=4096, intermediate_size=14336, num_hidden_layers=8,
                num_attention_heads=32, num_key_value_heads=8, rms_norm_eps=1e-5, rope_theta=500000.0,
                max_position_embeddings=8192, tie_word_embeddings=False, bos_token_id=128000, eos_token_id=128009)
BF16_PEAK_FLOPS = 989e12


def medvqa(args, *argv, env=None):
    proc = subprocess.run([str(args.bin), *map(str, argv)], capture_output=True, text=True,
                          env={**os.environ, **(env or {})})
    if proc.returncode != 0:
        sys.exit(f"medvqa {' '.join(map(str, argv[:2]))} exited {proc.returncode}:\n{proc.stderr[-3000:]}")
    return proc


def report(figures, failures):
    print(json.dumps(figures, indent=1))
    if os.environ.get("STEP_FIGURES"):
        Path(os.environ["STEP_FIGURES"]).write_text(json.dumps(figures))
    if failures:
        sys.exit("; ".join(failures))


def max_diff(got, want):
    return float((got.double() - want.double().to(got.device)).abs().max())


def rel_diff(got, want):
    """max |got - want| relative to max |want| (0 when both are all zeros, as LoRA B's input gradients)."""
    return max_diff(got, want) / max(float(want.abs().max()), 1e-30)


def demo(args):
    if not (args.demo / "towers").exists():
        make_demo(args.bin, args.demo, 12)
    return args.demo


def check_llama(args):
    """Prompt logits of `medvqa generate --dump-logits` against transformers, both on args.device."""
    from transformers import LlamaConfig, LlamaForCausalLM
    torch.manual_seed(0)
    model_dir = args.work / "llama_tiny"
    LlamaForCausalLM(LlamaConfig(**BASE)).save_pretrained(model_dir)
    figures, failures = {}, []
    for dtype, tol in LOGITS_TOL.items():
        out = args.work / f"logits_{dtype}.safetensors"
        medvqa(args, "generate", "--model", model_dir, "--ids", ",".join(map(str, PROMPT)), "--max-new-tokens", 0,
               "--dtype", dtype, "--device", args.device, "--dump-logits", out, "--json")
        ref = LlamaForCausalLM.from_pretrained(model_dir, dtype=TORCH_DTYPES[dtype]).to(args.device).eval()
        with torch.no_grad():
            want = ref(torch.tensor([PROMPT], device=args.device)).logits[0].float()
        figures[f"max_abs_diff_{dtype}"] = d = max_diff(load_file(out)["logits"], want.cpu())
        if d > tol:
            failures.append(f"{dtype} logits: max abs diff {d:.3g} > {tol}")
    report(figures, failures)


def check_vit(args):
    """`medvqa embed` of a tiny BiomedCLIP-architecture tower against open_clip on args.device."""
    config = biomedclip_config(TINY_KWARGS)
    tower = build_tower(config)
    model_dir = save_open_clip_dir(args.work / "vit_tiny", config, tower)
    pixels = torch.randn(3, 224, 224, generator=torch.Generator().manual_seed(1))
    src = args.work / "pixels.safetensors"
    save_file({"pixels": pixels}, str(src))
    figures, failures = {}, []
    for dtype, tol in VIT_TOL.items():
        out = args.work / f"embed_{dtype}.safetensors"
        medvqa(args, "embed", "--vision", model_dir, "--pixels", src, "--out", out, "--dtype", dtype,
               "--device", args.device)
        got = load_file(str(out))
        ref = tower.to(args.device, TORCH_DTYPES[dtype])
        want = reference(ref, pixels[None].to(args.device, TORCH_DTYPES[dtype]))
        for name in ("embedding", "tokens", "penultimate"):
            figures[f"{name}_max_abs_diff_{dtype}"] = d = max_diff(got[name], want[name][0].float().cpu())
            if d > tol:
                failures.append(f"{dtype} {name}: max abs diff {d:.3g} > {tol}")
    report(figures, failures)


def stage2_config(args, name, out, model=None, train=None):
    root = demo(args)
    return write_config(args.work / f"{name}.json", root / "towers", root / "data", "lora", out,
                        model={"device": args.device, "lora": {"r": 8, "alpha": 16}, **(model or {})},
                        train={"batch_size": 4, "save_every": 0, **(train or {})})


def check_grad(args):
    """The loss and every trainable gradient of one stage-2 step (grad-check) on args.device vs the CPU."""
    dumps = {}
    for device in (args.device, "cpu"):
        cfg = stage2_config(args, f"grad_{device}", args.work / f"grad_{device}")
        dumps[device] = args.work / f"grad_{device}.safetensors"
        medvqa(args, "grad-check", "-c", cfg, f"model.device={device}", "--out", dumps[device])
    got, want = load_file(str(dumps[args.device])), load_file(str(dumps["cpu"]))
    grads = [k for k in want if k.startswith("grad.")]
    worst = max(grads, key=lambda k: rel_diff(got[k], want[k]))
    rel = rel_diff(got[worst], want[worst])
    figures = {"loss": float(got["loss"]), "loss_cpu": float(want["loss"]), "gradients": len(grads),
               "worst_gradient": worst, "worst_rel_diff": rel}
    report(figures, [f"{worst}: relative diff {rel:.3g} > {GRAD_REL_TOL}"] if rel > GRAD_REL_TOL else [])


def check_checkpointing(args):
    """Stage 2 with LoRA dropout, gradient checkpointing on and off: the recomputed forward must
    draw the same dropout masks (the device RNG replayed), so the adapters end equal."""
    adapters = {}
    for on in (True, False):
        out = args.work / f"ckpt_{'on' if on else 'off'}"
        cfg = stage2_config(args, out.name, out, train={"max_steps": 4},
                            model={"lora": {"r": 8, "alpha": 16, "dropout": 0.1}, "gradient_checkpointing": on})
        medvqa(args, "train", "-c", cfg)
        adapters[on] = load_file(str(out / "final" / "adapter" / "adapter_model.safetensors"))
    worst = max(rel_diff(adapters[True][k], adapters[False][k]) for k in adapters[False])
    report({"adapter_tensors": len(adapters[False]), "worst_rel_diff": worst},
           [f"checkpointing on vs off: relative diff {worst:.3g}"] if worst > CHECKPOINTING_REL_TOL else [])


def peak_gpu_memory(stop, result):
    """The largest memory.used nvidia-smi reports while `stop` is unset (MiB; none without nvidia-smi)."""
    while shutil.which("nvidia-smi") and not stop.is_set():
        out = subprocess.run(["nvidia-smi", "--query-gpu=memory.used", "--format=csv,noheader,nounits", "-i", "0"],
                             capture_output=True, text=True).stdout.strip()
        if out:
            result.append(int(out.splitlines()[0]))
        time.sleep(0.2)


def check_step8b(args):
    """Stage-2 steps of an 8B-shaped LLaMA (random weights, HF format, bf16, checkpointing, LoRA r128)
    on the demo data: step time, tokens/s, MFU and peak memory beside `config --estimate`."""
    from transformers import LlamaConfig, LlamaForCausalLM
    root = demo(args)
    llm = args.work / "llama8b_shaped"
    if not (llm / "config.json").exists():
        t0 = time.time()
        with torch.device(args.device):
            model = LlamaForCausalLM(LlamaConfig(**LLAMA_8B)).to(torch.bfloat16)
        model.save_pretrained(llm)
        del model
        (llm / "original").mkdir(exist_ok=True)
        (llm / "original" / "tokenizer.model").write_bytes((ROOT / "third_party/llama3/tokenizer.model").read_bytes())
        print(f"step8b: wrote {llm} in {time.time() - t0:.0f} s")
    out = args.work / "step8b"
    cfg = write_config(args.work / "step8b.json", root / "towers", root / "data", "lora", out,
                       model={"llm": str(llm), "device": args.device, "dtype": "bf16", "threads": 0,
                              "gradient_checkpointing": True, "lora": {"r": 128, "alpha": 256, "dropout": 0.05}},
                       train={"batch_size": args.batch, "max_steps": args.steps, "save_every": 0})
    estimate = json.loads(medvqa(args, "config", "-c", cfg, "--estimate", "--json", "--gpus", 1).stdout)
    stop, used = threading.Event(), []
    poller = threading.Thread(target=peak_gpu_memory, args=(stop, used))
    poller.start()
    t0 = time.time()
    try:
        medvqa(args, "train", "-c", cfg)
    finally:
        stop.set()
        poller.join()
    lines = [json.loads(l) for l in (out / "metrics.jsonl").read_text().splitlines()]
    steps = [l for l in lines if "tokens_per_s" in l]
    last = steps[-1]
    h, kv = LLAMA_8B["hidden_size"], LLAMA_8B["num_key_value_heads"] * LLAMA_8B["hidden_size"] // LLAMA_8B["num_attention_heads"]
    linear = LLAMA_8B["num_hidden_layers"] * (2 * h * h + 2 * h * kv + 3 * h * LLAMA_8B["intermediate_size"])  # q,o k,v mlp
    flops_per_token = 4 * linear  # frozen base: forward + input gradients (recomputation not counted)
    figures = {"steps": len(steps), "wall_s": round(time.time() - t0, 1),
               "step_time_s": args.batch / last["samples_per_s"], "tokens_per_s": last["tokens_per_s"],
               "mfu": flops_per_token * last["tokens_per_s"] / BF16_PEAK_FLOPS,
               "peak_memory_gib": max(used, default=0) / 1024,
               "estimate_gib": estimate["bytes_per_gpu"]["checkpointing_on"]["total"] / 2**30,
               "parameters": estimate["parameters"]["total"]}
    report(figures, [])


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("check", choices=["llama", "vit", "grad", "checkpointing", "step8b"])
    p.add_argument("--bin", type=Path, default=ROOT / "build" / "medvqa")
    p.add_argument("--work", type=Path, required=True)
    p.add_argument("--device", default="cuda")
    p.add_argument("--demo", type=Path, help="demo data + towers (medvqa demo-data, demo-towers); default WORK/demo")
    p.add_argument("--steps", type=int, default=8, help="step8b: training steps")
    p.add_argument("--batch", type=int, default=4, help="step8b: batch size")
    args = p.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    args.demo = args.demo or args.work / "demo"
    {"llama": check_llama, "vit": check_vit, "grad": check_grad, "checkpointing": check_checkpointing,
     "step8b": check_step8b}[args.check](args)


if __name__ == "__main__":
    main()

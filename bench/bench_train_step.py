"""Stage-2 training step: samples/s and peak RSS of `medvqa train` beside the same step in
transformers + PEFT + open_clip on the same torch, in the same run, at one fixed small config:
a LLaMA-3-shaped decoder written by transformers (vocab 128256, hidden 512, 8 layers, GQA 8/2,
MLP 1792, untied head), a BiomedCLIP-architecture ViT written by open_clip (width 384, 6 blocks,
32-pixel patches: 49 image tokens), mlp2x_gelu projector, LoRA r16/a32 on all seven projections,
batch 4 of the synthetic demo data (sequences of ~100 tokens), fp32, AdamW + clipping.

medvqa's step times come from its metrics.jsonl (cumulative samples/s per step: the trainer's own
loop, data loading on a worker thread included); the peer replays the first batch of the same
config (read from `medvqa grad-check`), one forward + backward + clip + AdamW step per timed step,
twice: with transformers' own loss (logits at every position, the full 128k vocabulary) and with
the saving medvqa makes (the LM head at the label positions only: the decoder's last hidden states
there, then lm_head and the cross-entropy).
Each side runs in its own process; peak RSS is that process's ru_maxrss. Median step time after
warm-up steps. Useful FLOPs (the same count for both sides) = 4 x LLaMA linear params x tokens
(frozen base: forward + input gradients) + 4 x LM head x label tokens + ViT forward + 6 x projector
params x image tokens, against the measured fp32 GEMM peak (bench/machine_peak.py).

    .venv/bin/python bench/bench_train_step.py [--binary build/medvqa] [--threads 2] [--steps 8]
        [--warmup 2] [--peak-json FILE]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "parity"))
sys.path.insert(0, str(ROOT / "bench"))
from machine_peak import peak  # noqa: E402
from test_vit import biomedclip_config, build_tower, save_open_clip_dir  # noqa: E402
from vqa_reference import Projector, VqaReference, load_open_clip_tower, make_demo, write_config  # noqa: E402

LLM = dict(vocab_size=128256, hidden_size=512, intermediate_size=1792, num_hidden_layers=8, num_attention_heads=8,
           num_key_value_heads=2, head_dim=64, rms_norm_eps=1e-5, rope_theta=500000.0, max_position_embeddings=8192,
           tie_word_embeddings=False, bos_token_id=128000, eos_token_id=128009)
VIT = {"embed_dim": 384, "depth": 6, "num_heads": 6, "patch_size": 32}
TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
LORA = {"r": 16, "alpha": 32, "dropout": 0.0, "targets": TARGETS}
BATCH = 4
LR, PROJECTOR_LR = 2e-4, 2e-5


def child_peak_rss(args):
    """(stdout, peak RSS MB) of args run as a child: ru_maxrss of exactly that child via wait4."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(list(map(str, args)), stdout=out, stderr=err, text=True)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(map(str, args[:3]))} failed ({proc.returncode}):\n{err.read()[-3000:]}")
        return out.read(), usage.ru_maxrss / 1024


def write_towers(tmp):
    from transformers import LlamaConfig, LlamaForCausalLM
    torch.manual_seed(0)
    LlamaForCausalLM(LlamaConfig(**LLM)).save_pretrained(tmp / "llm")
    config = biomedclip_config(VIT)
    save_open_clip_dir(tmp / "vision", config, build_tower(config))
    return tmp


def medvqa_steps(binary, cfg, run_dir, steps):
    """Per-step seconds of the trainer (from cumulative samples/s) and its peak RSS."""
    _, rss = child_peak_rss([binary, "train", "-c", cfg])
    lines = [json.loads(l) for l in (run_dir / "metrics.jsonl").read_text().splitlines()]
    elapsed = [m["step"] * BATCH / m["samples_per_s"] for m in lines if "loss" in m]
    assert len(elapsed) == steps, f"expected {steps} logged steps, got {len(elapsed)}"
    return [b - a for a, b in zip([0.0] + elapsed, elapsed)], rss


def label_position_loss(model, input_ids, attention_mask, labels, pixels):
    """transformers' loss with the LM head run only where the next token is a label, as medvqa does."""
    base = model.llm.get_base_model()
    hidden = base.model(inputs_embeds=model.inputs_embeds(input_ids, pixels), attention_mask=attention_mask).last_hidden_state
    targets = labels[:, 1:]
    keep = targets != -100
    logits = base.lm_head(hidden[:, :-1][keep])
    return torch.nn.functional.cross_entropy(logits.float(), targets[keep])


def peer(args):
    """The child side: transformers + PEFT + open_clip, one training step per timed iteration."""
    from peft import LoraConfig, get_peft_model
    from safetensors.torch import load_file
    from transformers import LlamaForCausalLM
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    towers, batch = Path(args.peer), load_file(args.batch)
    tower = load_open_clip_tower(towers / "vision")
    llm = LlamaForCausalLM.from_pretrained(towers / "llm", dtype=torch.float32)
    llm = get_peft_model(llm, LoraConfig(r=LORA["r"], lora_alpha=LORA["alpha"], lora_dropout=0.0,
                                         target_modules=TARGETS))
    projector = Projector("mlp2x_gelu", tower.trunk.embed_dim, LLM["hidden_size"])
    model = VqaReference(tower, projector, llm, feature_layer=-2)
    tower.requires_grad_(False)
    lora = [p for p in llm.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW([{"params": list(projector.parameters()), "lr": PROJECTOR_LR},
                                   {"params": lora, "lr": LR}], weight_decay=0.0)
    model.train()
    tower.eval()
    inputs = (batch["batch.input_ids"], batch["batch.attention_mask"].long(), batch["batch.labels"],
              batch["batch.pixels"])
    times = []
    for _ in range(args.steps):
        t0 = time.perf_counter()
        (label_position_loss(model, *inputs) if args.label_logits else model(*inputs).loss).backward()
        torch.nn.utils.clip_grad_norm_(list(projector.parameters()) + lora, 1.0)
        optimizer.step()
        optimizer.zero_grad()
        times.append(time.perf_counter() - t0)
    print(json.dumps({"step_seconds": times}))


def useful_gflop_per_step(batch, vit_tokens):
    h, L, v = LLM["hidden_size"], LLM["num_hidden_layers"], LLM["vocab_size"]
    q = LLM["num_attention_heads"] * LLM["head_dim"]
    kv = LLM["num_key_value_heads"] * LLM["head_dim"]
    llama_linear = L * (h * (2 * q + 2 * kv) + 3 * h * LLM["intermediate_size"])
    w, depth = VIT["embed_dim"], VIT["depth"]
    vit = depth * 12 * w * w
    tokens = int(batch["batch.attention_mask"].sum())
    labels = int((batch["batch.labels"] != -100).sum())
    images = batch["batch.pixels"].shape[0]
    projector = w * h + h * h
    flops = (4 * llama_linear * tokens + 4 * h * v * labels + 2 * vit * images * (vit_tokens + 1)
             + 6 * projector * images * vit_tokens)
    return flops / 1e9, tokens, labels


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--binary", type=Path, default=ROOT / "build" / "medvqa")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--steps", type=int, default=8, help="timed steps per side")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps first")
    parser.add_argument("--peak-json", type=Path, help="machine_peak.py's output, instead of measuring")
    parser.add_argument("--peer", help=argparse.SUPPRESS)  # the child: towers directory
    parser.add_argument("--batch", help=argparse.SUPPRESS)
    parser.add_argument("--label-logits", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.peer:
        return peer(args)
    machine = json.loads(args.peak_json.read_text()) if args.peak_json else peak(args.threads, dtypes=("fp32",))
    total = args.warmup + args.steps
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        write_towers(tmp / "towers")
        make_demo(args.binary, tmp / "demo", images_per_modality=6)
        cfg = write_config(tmp / "bench.json", tmp / "towers", tmp / "demo/data", "lora", tmp / "run",
                           model={"threads": args.threads, "lora": LORA,
                                  "tokenizer": str(ROOT / "third_party/llama3/tokenizer.model")},
                           train={"batch_size": BATCH, "max_steps": total, "lr": LR, "projector_lr": PROJECTOR_LR,
                                  "save_every": 0, "val_every": 0},
                           data_extra={"workers": 1})
        subprocess.run([str(args.binary), "grad-check", "-c", str(cfg), "--out", str(tmp / "batch.safetensors")],
                       check=True, capture_output=True)
        ours, our_rss = medvqa_steps(args.binary, cfg, tmp / "run", total)
        peers = {}
        for name, extra in (("transformers + PEFT + open_clip", []),
                            ("the same, LM head at label positions", ["--label-logits"])):
            out, rss = child_peak_rss([sys.executable, __file__, "--peer", tmp / "towers", "--batch",
                                       tmp / "batch.safetensors", "--steps", total, "--threads", args.threads, *extra])
            peers[name] = (statistics.median(json.loads(out.splitlines()[-1])["step_seconds"][args.warmup:]), rss)
        from safetensors.torch import load_file
        gflop, tokens, labels = useful_gflop_per_step(load_file(tmp / "batch.safetensors"),
                                                      (224 // VIT["patch_size"]) ** 2)
    ours_s = statistics.median(ours[args.warmup:])
    peak_gflops = machine["gemm_gflops_fp32"]
    print(f"threads {args.threads}, batch {BATCH}, {tokens} tokens and {labels} label tokens in the peer's batch, "
          f"median of {args.steps} steps after {args.warmup}; fp32 GEMM peak {peak_gflops:.1f} GFLOP/s, "
          f"torch {torch.__version__}")
    print("| side | samples/s | step s | peak RSS MB | useful GFLOP/s | of GEMM peak |")
    print("|---|---|---|---|---|---|")
    for name, (s, rss) in {"medvqa train": (ours_s, our_rss), **peers}.items():
        print(f"| {name} | {BATCH / s:.2f} | {s:.3f} | {rss:.0f} | {gflop / s:.1f} | {gflop / s / peak_gflops:.2f} |")
    for name, (s, rss) in peers.items():
        print(f"medvqa / {name}: {s / ours_s:.2f}x samples/s, {our_rss / rss:.2f}x peak RSS")


if __name__ == "__main__":
    main()

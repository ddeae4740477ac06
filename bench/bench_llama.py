"""LLaMA decoder throughput: `medvqa generate` beside transformers `generate` on the same torch, in
the same run. A ~100M-parameter LLaMA-3-shaped model (vocab 128256, GQA 8/2, tied embeddings like
LLaMA-3.2) written by transformers; prefill and decode tokens/s at batch 1 and 8, fp32 and bf16;
decode against the memory-bandwidth bound (weight bytes per decode step / copy bandwidth, measured
right before each row: on shared machines it moves by a third within minutes).
medvqa's times come from inside the binary (the "timing" object of --json), excluding start-up and
loading; transformers' prefill is a 1-token generate, its decode the difference to an N-token one.

Usage: .venv/bin/python bench/bench_llama.py [--medvqa build/medvqa] [--threads 2] [--prompt 128] [--new 32]
       [--dtypes fp32,bf16] [--batches 1,8]"""
import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from transformers import LlamaConfig, LlamaForCausalLM

sys.path.insert(0, str(Path(__file__).resolve().parent))
import machine_peak  # noqa: E402
from machine_peak import peak  # noqa: E402

CONFIG = dict(vocab_size=128256, hidden_size=512, intermediate_size=1792, num_hidden_layers=8, num_attention_heads=8,
              num_key_value_heads=2, head_dim=64, rms_norm_eps=1e-5, rope_theta=500000.0, max_position_embeddings=8192,
              tie_word_embeddings=True, bos_token_id=128000, eos_token_id=128001)
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}


def medvqa_run(binary, model_dir, prompts, new, dtype, threads):
    args = [binary, "generate", "--model", model_dir, "--max-new-tokens", new, "--ignore-eos", "--warmup", "--greedy",
            "--json",
            "--dtype", dtype, "--device", "cpu", "--threads", threads]
    for p in prompts:
        args += ["--ids", ",".join(map(str, p))]
    out = subprocess.run(list(map(str, args)), capture_output=True, text=True, check=True)
    t = json.loads(out.stdout)["timing"]
    return t["prefill_tokens"] / t["prefill_seconds"], t["decode_tokens"] / t["decode_seconds"]


def hf_run(model, prompts, new, repeats):
    ids = torch.tensor(prompts)
    kw = dict(do_sample=False, pad_token_id=0)  # min_new_tokens keeps eos from ending a run early

    def gen(n):
        with torch.inference_mode():
            model.generate(ids, max_new_tokens=n, min_new_tokens=n, **kw)

    gen(2)  # warm-up
    t1 = machine_peak.best_of(lambda: gen(1), repeats, warmup=False)
    tn = machine_peak.best_of(lambda: gen(new), repeats, warmup=False)
    return ids.numel() / t1, ids.shape[0] * (new - 1) / (tn - t1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--medvqa", default=str(Path(__file__).resolve().parents[1] / "build" / "medvqa"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--prompt", type=int, default=128)
    ap.add_argument("--new", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--dtypes", default="fp32,bf16")
    ap.add_argument("--batches", default="1,8")
    ap.add_argument("--copy-gbps", type=float,
                    help="a fixed copy bandwidth (GB/s) for every row instead of measuring it before each")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(**CONFIG)).eval()
    params = sum(p.numel() for p in model.parameters())
    gen = torch.Generator().manual_seed(1)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        model.save_pretrained(tmp)
        for dname in args.dtypes.split(","):
            dtype = DTYPES[dname]
            hf = LlamaForCausalLM.from_pretrained(tmp, dtype=dtype).eval()
            weight_bytes = params * torch.finfo(dtype).bits // 8
            for batch in map(int, args.batches.split(",")):
                copy_gbps = args.copy_gbps or peak(args.threads, dtypes=())["copy_gbps"]
                step_bound = copy_gbps * 1e9 / weight_bytes  # decode steps/s if weights stream once per step
                prompts = torch.randint(0, 128000, (batch, args.prompt), generator=gen).tolist()
                ours = max((medvqa_run(args.medvqa, tmp, prompts, args.new, dname, args.threads)
                            for _ in range(args.repeats)), key=lambda r: r[1])
                theirs = hf_run(hf, prompts, args.new, args.repeats)
                rows.append({"dtype": dname, "batch": batch,
                             "medvqa_prefill_tok_s": round(ours[0], 1), "hf_prefill_tok_s": round(theirs[0], 1),
                             "prefill_ratio": round(ours[0] / theirs[0], 2),
                             "medvqa_decode_tok_s": round(ours[1], 1), "hf_decode_tok_s": round(theirs[1], 1),
                             "decode_ratio": round(ours[1] / theirs[1], 2),
                             "copy_gbps": round(copy_gbps, 1),
                             "bandwidth_bound_decode_tok_s": round(batch * step_bound, 1),
                             "medvqa_decode_of_bound": round(ours[1] / (batch * step_bound), 2)})
                print(json.dumps(rows[-1]), flush=True)
    print(json.dumps({"params": params, "threads": args.threads, "prompt_tokens": args.prompt,
                      "new_tokens": args.new, "torch": torch.__version__}))
    print("\n| dtype | batch | prefill tok/s medvqa | transformers | ratio | decode tok/s medvqa | transformers | ratio "
          "| copy GB/s | decode bound | medvqa / bound |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['dtype']} | {r['batch']} | {r['medvqa_prefill_tok_s']} | {r['hf_prefill_tok_s']} | "
              f"{r['prefill_ratio']} | {r['medvqa_decode_tok_s']} | {r['hf_decode_tok_s']} | {r['decode_ratio']} | "
              f"{r['copy_gbps']} | {r['bandwidth_bound_decode_tok_s']} | {r['medvqa_decode_of_bound']} |")


if __name__ == "__main__":
    main()

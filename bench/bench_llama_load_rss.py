"""Peak RSS of loading a Llama-3-8B-shaped bf16 checkpoint with `medvqa generate`, without writing
16 GB: the four shards are sparse files (a real safetensors header, then a hole of the real data
size made by truncate), so loading maps 16 GB of bf16 weights that occupy no disk. medvqa binds
bf16 weights to the memory map instead of copying them, so peak RSS stays near the process's
baseline (measured on a tiny model) rather than 16 GB (one copy) or 32 GB (two).

Usage: .venv/bin/python bench/bench_llama_load_rss.py [--medvqa build/medvqa] [--dir /tmp/llama8b_sparse]"""
import argparse
import json
import math
import shutil
import struct
import subprocess
import sys
import time
from pathlib import Path

CONFIG = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "vocab_size": 128256, "hidden_size": 4096,
          "intermediate_size": 14336, "num_hidden_layers": 32, "num_attention_heads": 32, "num_key_value_heads": 8,
          "head_dim": 128, "rms_norm_eps": 1e-5, "rope_theta": 500000.0, "max_position_embeddings": 8192,
          "tie_word_embeddings": False, "bos_token_id": 128000, "eos_token_id": 128001, "torch_dtype": "bfloat16"}


def shapes(c):
    h, i, v = c["hidden_size"], c["intermediate_size"], c["vocab_size"]
    q, kv = c["num_attention_heads"] * c["head_dim"], c["num_key_value_heads"] * c["head_dim"]
    yield "model.embed_tokens.weight", [v, h]
    for n in range(c["num_hidden_layers"]):
        p = f"model.layers.{n}."
        yield p + "input_layernorm.weight", [h]
        yield p + "self_attn.q_proj.weight", [q, h]
        yield p + "self_attn.k_proj.weight", [kv, h]
        yield p + "self_attn.v_proj.weight", [kv, h]
        yield p + "self_attn.o_proj.weight", [h, q]
        yield p + "post_attention_layernorm.weight", [h]
        yield p + "mlp.gate_proj.weight", [i, h]
        yield p + "mlp.up_proj.weight", [i, h]
        yield p + "mlp.down_proj.weight", [h, i]
    yield "model.norm.weight", [h]
    yield "lm_head.weight", [v, h]


def write_sparse_shard(path, tensors):
    header, offset = {"__metadata__": {"format": "pt"}}, 0
    for name, shape in tensors:
        size = 2 * math.prod(shape)
        header[name] = {"dtype": "BF16", "shape": shape, "data_offsets": [offset, offset + size]}
        offset += size
    raw = json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(raw)) + raw)
        f.truncate(8 + len(raw) + offset)  # the data: a hole, no blocks written
    return offset


def make_sparse_model(d, shards=4):
    d.mkdir(parents=True, exist_ok=True)
    (d / "config.json").write_text(json.dumps(CONFIG))
    all_tensors = list(shapes(CONFIG))
    per = -(-len(all_tensors) // shards)
    weight_map, total = {}, 0
    for s in range(shards):
        name = f"model-{s + 1:05d}-of-{shards:05d}.safetensors"
        part = all_tensors[s * per:(s + 1) * per]
        total += write_sparse_shard(d / name, part)
        weight_map.update({t: name for t, _ in part})
    (d / "model.safetensors.index.json").write_text(json.dumps({"metadata": {"total_size": total},
                                                                 "weight_map": weight_map}))
    return total


def peak_rss_of(cmd):
    """Runs cmd in a fresh child that reports its own ru_maxrss (kB) after the command exits."""
    probe = ("import resource, subprocess, sys; p = subprocess.run(sys.argv[1:], capture_output=True, text=True); "
             "print(p.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); "
             "sys.stderr.write(p.stderr if p.returncode else '')")
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", probe, *map(str, cmd)], capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    rc, kb = out.stdout.split()
    if rc != "0":
        raise SystemExit(f"{' '.join(map(str, cmd))} failed:\n{out.stderr}")
    return int(kb) / 1024, seconds


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--medvqa", default=str(Path(__file__).resolve().parents[1] / "build" / "medvqa"))
    ap.add_argument("--dir", default="/tmp/medvqa_llama8b_sparse")
    args = ap.parse_args()
    d = Path(args.dir)
    total = make_sparse_model(d)
    on_disk = sum(f.stat().st_blocks * 512 for f in d.iterdir())
    params = total // 2
    tiny = d.parent / (d.name + "_tiny")
    tiny.mkdir(exist_ok=True)
    tiny_cfg = {**CONFIG, "vocab_size": 16, "hidden_size": 8, "intermediate_size": 16, "num_hidden_layers": 1,
                "num_attention_heads": 2, "num_key_value_heads": 1, "head_dim": 4}
    (tiny / "config.json").write_text(json.dumps(tiny_cfg))
    write_sparse_shard(tiny / "model.safetensors", list(shapes(tiny_cfg)))
    gen = ["generate", "--ids", "1", "--max-new-tokens", "0", "--dtype", "bf16", "--device", "cpu", "--json"]
    base_mb, _ = peak_rss_of([args.medvqa, *gen, "--model", tiny])
    peak_mb, seconds = peak_rss_of([args.medvqa, *gen, "--model", d])
    result = {"params": params, "weight_bytes": total, "bytes_on_disk": on_disk, "peak_rss_mb_8b": round(peak_mb, 1),
              "peak_rss_mb_tiny_baseline": round(base_mb, 1), "one_copy_mb": round(total / 2**20, 1),
              "load_wall_seconds": round(seconds, 2)}
    print(json.dumps(result, indent=1))
    shutil.rmtree(d)
    shutil.rmtree(tiny)


if __name__ == "__main__":
    main()

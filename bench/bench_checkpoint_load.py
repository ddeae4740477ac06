"""Loading a ~2 GB sharded bf16 checkpoint: medvqa (zero-copy mmap views, and copies into fresh
memory) beside PyPI safetensors.torch.load_file and beside reading the bytes (cat > /dev/null),
in one run, warm page cache. Reports seconds, GB/s and peak RSS of each in its own process.

  .venv/bin/python bench/bench_checkpoint_load.py [--gb 2] [--dir /tmp/medvqa_bench_ckpt]
(needs build/bench_load_checkpoint: scripts/build.sh -DMEDVQA_BENCH=ON)"""
import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

PY_LOADER = r"""
import json, resource, sys, time, glob
from safetensors.torch import load_file
t0 = time.perf_counter()
tensors = {}
for shard in sorted(glob.glob(sys.argv[1] + "/*.safetensors")):
    tensors.update(load_file(shard))
checksum = sum(float(t.view(-1).view(__import__("torch").uint8)[::4096].sum()) for t in tensors.values())
print(json.dumps({"seconds": time.perf_counter() - t0,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def make_checkpoint(path: Path, gb: float, shards: int = 4):
    import torch
    from safetensors.torch import save_file
    if (path / "model.safetensors.index.json").exists():
        return
    path.mkdir(parents=True, exist_ok=True)
    per_shard = int(gb * 1e9 / shards / 2)  # bf16 elements
    rows = 4096
    weight_map, total = {}, 0
    for s in range(shards):
        name = f"model-{s + 1:05d}-of-{shards:05d}.safetensors"
        tensors = {f"layers.{s}.w{i}": torch.randn(rows, per_shard // rows // 4).to(torch.bfloat16) for i in range(4)}
        save_file(tensors, str(path / name), metadata={"format": "pt"})
        for k, t in tensors.items():
            weight_map[k] = name
            total += t.numel() * 2
    (path / "model.safetensors.index.json").write_text(json.dumps({"metadata": {"total_size": total},
                                                                   "weight_map": weight_map}))


def timed(cmd):
    t0 = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    return time.perf_counter() - t0, out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gb", type=float, default=2.0)
    ap.add_argument("--dir", default="/tmp/medvqa_bench_ckpt")
    args = ap.parse_args()
    path = Path(args.dir)
    make_checkpoint(path, args.gb)
    shards = sorted(str(p) for p in path.glob("*.safetensors"))
    size = sum(os.path.getsize(s) for s in shards)
    subprocess.run(["cat", *shards], stdout=subprocess.DEVNULL, check=True)  # warm the page cache
    rows = []
    t0 = time.perf_counter()
    subprocess.run(["cat", *shards], stdout=subprocess.DEVNULL, check=True)
    cat_s = time.perf_counter() - t0
    rows.append(("cat > /dev/null", cat_s, None))
    for mode in ("view", "copy"):
        _, out = timed([str(ROOT / "build" / "bench_load_checkpoint"), str(path), mode])
        r = json.loads(out)
        rows.append((f"medvqa TensorStore ({mode})", r["seconds"], r["peak_rss_mb"]))
    _, out = timed([sys.executable, "-c", PY_LOADER, str(path)])
    r = json.loads(out)
    rows.append(("safetensors.torch.load_file", r["seconds"], r["peak_rss_mb"]))
    print(f"checkpoint: {len(shards)} shards, {size / 1e9:.2f} GB bf16, warm page cache")
    print(f"| loader | seconds | GB/s | peak RSS MB | time vs load_file |")
    print(f"|---|---|---|---|---|")
    base = rows[-1][1]
    for name, s, rss in rows:
        print(f"| {name} | {s:.3f} | {size / s / 1e9:.2f} | {'-' if rss is None else f'{rss:.0f}'} | {s / base:.2f} |")


if __name__ == "__main__":
    main()

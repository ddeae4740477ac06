"""BiomedCLIP vision tower throughput: images/s of a random-weight ViT-B/16 (BiomedCLIP's
open_clip_config.json) at batch 1 and 16, fp32 and bf16, for `medvqa embed --repeat` and for
open_clip/timm on the same torch in the same run, as a ratio and as a fraction of this machine's
GEMM peak (bench/machine_peak.py; ViT-B/16 at 224 is ~35 GFLOP per image).

    .venv/bin/python bench/bench_vit.py [--binary build/medvqa] [--threads N] [--repeat R]
        [--runs 1:fp32,16:fp32,1:bf16,16:bf16] [--peak-json FILE]

--peak-json takes machine_peak.py's printed JSON instead of measuring it again (its bf16 GEMM
takes minutes on CPUs without bf16 units).
"""
import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from safetensors.torch import save_file

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "parity"))
sys.path.insert(0, str(ROOT / "bench"))
from machine_peak import peak  # noqa: E402
from test_vit import biomedclip_config, build_tower, save_open_clip_dir  # noqa: E402

GFLOP_PER_IMAGE = 35.0
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}


def medvqa_images_per_s(binary, model_dir, pixels_file, out_file, dtype, threads, repeat):
    proc = subprocess.run([str(binary), "embed", "--vision", str(model_dir), "--pixels", str(pixels_file), "--out",
                           str(out_file), "--dtype", dtype, "--device", "cpu", "--threads", str(threads),
                           "--repeat", str(repeat)], capture_output=True, text=True, check=True)
    timing = json.loads(proc.stdout.strip().splitlines()[-1])
    return timing["batch"] / timing["best_s"]


@torch.inference_mode()
def open_clip_images_per_s(tower, pixels, repeat):
    tower(pixels)  # warm-up
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        tower(pixels)
        best = min(best, time.perf_counter() - t0)
    return pixels.shape[0] / best


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--binary", default=ROOT / "build" / "medvqa", type=Path)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--runs", default="1:fp32,16:fp32,1:bf16,16:bf16", help="batch:dtype,...")
    parser.add_argument("--peak-json", type=Path, help="machine_peak.py's output, instead of measuring")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    machine = json.loads(args.peak_json.read_text()) if args.peak_json else peak(args.threads)
    config = biomedclip_config()
    tower = build_tower(config)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        model_dir = save_open_clip_dir(tmp / "vit_b16", config, tower)
        for run in args.runs.split(","):
            batch, name = int(run.split(":")[0]), run.split(":")[1]
            pixels = torch.randn(batch, 3, 224, 224, generator=torch.Generator().manual_seed(batch))
            pixels_file = tmp / f"pixels_{batch}.safetensors"
            save_file({"pixels": pixels}, str(pixels_file))
            ours = medvqa_images_per_s(args.binary, model_dir, pixels_file, tmp / "out.safetensors", name,
                                       args.threads, args.repeat)
            theirs = open_clip_images_per_s(tower.to(DTYPES[name]), pixels.to(DTYPES[name]), args.repeat)
            gflops = ours * GFLOP_PER_IMAGE
            rows.append((batch, name, ours, theirs, ours / theirs, gflops, gflops / machine[f"gemm_gflops_{name}"]))
            print(rows[-1], flush=True)
    print(f"threads {args.threads}, repeat {args.repeat} (best of), GEMM peak fp32 "
          f"{machine['gemm_gflops_fp32']:.1f} GFLOP/s, bf16 {machine['gemm_gflops_bf16']:.1f} GFLOP/s, torch "
          f"{torch.__version__}")
    print("| batch | dtype | medvqa images/s | open_clip images/s | medvqa / open_clip | medvqa GFLOP/s | of GEMM peak |")
    print("|---|---|---|---|---|---|---|")
    for batch, name, ours, theirs, ratio, gflops, frac in rows:
        print(f"| {batch} | {name} | {ours:.2f} | {theirs:.2f} | {ratio:.2f} | {gflops:.0f} | {frac:.0%} |")


if __name__ == "__main__":
    main()

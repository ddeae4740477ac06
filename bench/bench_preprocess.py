"""Image preprocessing throughput: images/s of `medvqa preprocess` (decode + open_clip's eval
transform, on 1 and N worker threads) beside open_clip's transform on PIL.Image.open (pydicom's
modality LUT + VOI window first, for DICOM) in one Python process, on the same files.

    .venv/bin/python bench/bench_preprocess.py [--binary build/medvqa] [--count 24] [--threads N]

medvqa's time is the one it logs for the files (decode + transform, no process start-up or
output writing); the peer's is a loop over the same files after one warm-up pass. That both give
the same pixels is tests/parity/test_preprocess.py's job, not this script's.
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pydicom
import torch
from open_clip.transform import image_transform
from PIL import Image
from pydicom.pixels import apply_modality_lut, apply_voi_lut

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "parity"))
from test_preprocess import DICOM_DIR, MEAN, STD, smooth_noise  # noqa: E402

KINDS = ("512x512 RGB PNG", "1024x768 RGB JPEG", "2048x2048 gray PNG", "CT_small.dcm (128x128 16-bit DICOM)")
CONFIG = {"model_cfg": {"embed_dim": 512, "vision_cfg": {"timm_model_name": "vit_base_patch16_224", "image_size": 224}},
          "preprocess_cfg": {"mean": MEAN, "std": STD}}


def write_images(kind, directory, count):
    rng = np.random.default_rng(0)
    paths = []
    for i in range(count):
        if kind.startswith("CT_small"):
            path = directory / f"ct_{i}.dcm"
            path.write_bytes((DICOM_DIR / "CT_small.dcm").read_bytes())
        else:
            w, h = (int(v) for v in kind.split()[0].split("x"))
            gray = "gray" in kind
            image = Image.fromarray(smooth_noise(rng, h, w, 1 if gray else 3).squeeze())
            path = directory / f"{kind.split()[0]}_{i}.{'jpg' if 'JPEG' in kind else 'png'}"
            image.save(path, quality=90) if path.suffix == ".jpg" else image.save(path)
        paths.append(path)
    return paths


def open_dicom_as_pil(path):
    """What a Python pipeline does with a DICOM file: pydicom's LUTs, scaled to 8-bit gray."""
    ds = pydicom.dcmread(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        values = apply_voi_lut(apply_modality_lut(ds.pixel_array, ds), ds).astype(np.float64)
    lo, hi = values.min(), values.max()
    return Image.fromarray(np.round((values - lo) / max(hi - lo, 1e-9) * 255).astype(np.uint8))


def peer_images_per_s(paths, transform):
    load = open_dicom_as_pil if paths[0].suffix == ".dcm" else Image.open
    for path in paths:  # warm-up (page cache, lazy imports)
        transform(load(path))
    start = time.perf_counter()
    for path in paths:
        transform(load(path))
    return len(paths) / (time.perf_counter() - start)


def medvqa_images_per_s(binary, vision, paths, threads, out):
    proc = subprocess.run([str(binary), "preprocess", "--vision", str(vision), "--out", str(out), "--threads",
                           str(threads), "--image", *map(str, paths)], capture_output=True, text=True, check=True)
    match = re.search(r"preprocessed (\d+) image\(s\) in [0-9.e-]+ s \(([0-9.e+-]+) images/s\)", proc.stderr)
    assert match and int(match.group(1)) == len(paths), proc.stderr
    return float(match.group(2))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--binary", default=ROOT / "build" / "medvqa", type=Path)
    parser.add_argument("--count", type=int, default=24, help="images per kind")
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    args = parser.parse_args()
    torch.set_num_threads(1)
    transform = image_transform(224, is_train=False, mean=MEAN, std=STD)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        vision = tmp / "vision"
        vision.mkdir()
        (vision / "open_clip_config.json").write_text(json.dumps(CONFIG))
        for kind in KINDS:
            directory = tmp / kind.split()[0]
            directory.mkdir()
            paths = write_images(kind, directory, args.count)
            medvqa_images_per_s(args.binary, vision, paths[:2], 1, tmp / "out.safetensors")  # warm the page cache
            one = medvqa_images_per_s(args.binary, vision, paths, 1, tmp / "out.safetensors")
            many = medvqa_images_per_s(args.binary, vision, paths, args.threads, tmp / "out.safetensors")
            peer = peer_images_per_s(paths, transform)
            rows.append({"images": kind, "open_clip_pil": peer, "medvqa_1_thread": one, "ratio_1_thread": one / peer,
                         f"medvqa_{args.threads}_threads": many})
            print(json.dumps(rows[-1]), flush=True)
    print(f"\n{args.count} images per kind, torch {torch.__version__}")
    print(f"| images | open_clip + PIL img/s | medvqa 1 thread img/s | medvqa / peer | medvqa {args.threads} threads img/s |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['images']} | {r['open_clip_pil']:.1f} | {r['medvqa_1_thread']:.1f} | {r['ratio_1_thread']:.2f} | "
              f"{r[f'medvqa_{args.threads}_threads']:.1f} |")


if __name__ == "__main__":
    main()

"""Data-parallel training throughput: samples/s of `medvqa train` on the demo stage 2 config (LoRA on
the small demo LLaMA + projector) as 1 rank of batch 2b and as 2 Gloo ranks of batch b on this
machine (one intra-op thread per rank), and the share of the 2-rank wall time spent waiting for the
gradient all-reduce after backward (the trainer's `exposed_comm_share` metric: the communication
that backward did not hide; it includes waiting for the slower rank).

    .venv/bin/python bench/bench_dist.py [--binary build/medvqa] [--steps 20] [--batch 16]
        [--images-per-modality 40] [--bucket-mb 25]

No Python peer: torch DDP over the same Gloo would need the whole model in Python; the ratio that
matters is 2 ranks / 1 rank of the same binary.
"""
import argparse
import json
import re
import subprocess
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def train(binary, demo, out, nproc, batch, steps, bucket_mb):
    args = [str(binary), "train", "-c", str(ROOT / "configs/demo/stage2_lora.yaml"),
            f"model.vision={demo / 'towers/vision'}", f"model.llm={demo / 'towers/llm'}", "model.projector_weights=",
            "model.threads=1", f"data.root={demo / 'data'}", f"data.manifest={demo / 'data/split_manifest.json'}",
            "data.workers=1", f"train.out_dir={out}", f"train.max_steps={steps}", f"train.batch_size={batch // nproc}",
            "train.log_every=1", "train.save_every=0", "train.val_every=0",
            f"dist.bucket_mb={bucket_mb}"]
    if nproc > 1:
        args += ["--nproc-per-node", str(nproc)]
    proc = subprocess.run(args, check=True, capture_output=True, text=True)
    lines = [json.loads(l) for l in (out / "metrics.jsonl").read_text().splitlines()]
    last = [m for m in lines if "samples_per_s" in m][-1]
    buckets = re.search(r"(\d+) gradient buckets", proc.stderr)
    # Older binaries named the metric comm_share (all of the all-reduce ran after backward then).
    return last["samples_per_s"], last.get("exposed_comm_share", last.get("comm_share")), buckets and int(buckets.group(1))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", default=ROOT / "build/medvqa", type=Path)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--batch", type=int, default=16, help="global batch")
    ap.add_argument("--images-per-modality", type=int, default=40)
    ap.add_argument("--bucket-mb", type=float, default=25, help="dist.bucket_mb")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        demo = Path(tmp)
        subprocess.run([str(a.binary), "demo-data", "--out", str(demo / "data"), "--images-per-modality",
                        str(a.images_per_modality)], check=True, capture_output=True)
        subprocess.run([str(a.binary), "demo-towers", "--out", str(demo / "towers"), "--tokenizer",
                        str(ROOT / "third_party/llama3/tokenizer.model")], check=True, capture_output=True)
        one, _, _ = train(a.binary, demo, demo / "one", 1, a.batch, a.steps, a.bucket_mb)
        two, comm, buckets = train(a.binary, demo, demo / "two", 2, a.batch, a.steps, a.bucket_mb)
    print(json.dumps({"global_batch": a.batch, "steps": a.steps, "bucket_mb": a.bucket_mb, "buckets": buckets,
                      "samples_per_s_1_rank": round(one, 2), "samples_per_s_2_ranks": round(two, 2),
                      "speedup": round(two / one, 3), "exposed_comm_share_2_ranks": round(comm, 4)}))


if __name__ == "__main__":
    main()

"""`medvqa ask` latency on the demo model (scripts/demo.sh), each run a fresh process: model load,
image preprocessing, time to the first answer token (vision tower + prefill) and decode tokens/s,
median of several runs, from ask's own --json timings. Beside it the Python peer answers the same
question in a fresh process from the exported bundle: open_clip's vision tower and eval transform,
the projector in torch, transformers' generate on the merged LLaMA (inputs_embeds with the image
features spliced in); its answer ids are compared with medvqa's.

Usage: .venv/bin/python bench/bench_ask.py [--model runs/demo/stage2] [--runs 5] [--threads 2] [--max-new-tokens 16]"""
import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
KEYS = ("load_s", "preprocess_s", "first_token_s", "tokens_per_s")


class Peer:
    """The Python pipeline over an exported bundle, loaded once: open_clip's tower and eval transform,
    the projector in torch, transformers' generate on the merged LLaMA."""

    def __init__(self, bundle, threads):
        t0 = time.perf_counter()
        from unittest import mock

        import open_clip
        import timm
        import tiktoken
        import torch
        import yaml
        from open_clip.model import _build_vision_tower
        from safetensors.torch import load_file
        from tiktoken.load import load_tiktoken_bpe
        from transformers import AutoModelForCausalLM
        torch.set_num_threads(threads)
        self.import_s = time.perf_counter() - t0

        t0 = time.perf_counter()
        self.cfg = yaml.safe_load((bundle / "config.yaml").read_text())["model"]
        clip = json.loads((bundle / "vision/open_clip_config.json").read_text())
        vision_cfg = dict(clip["model_cfg"]["vision_cfg"])
        kwargs = vision_cfg.pop("timm_model_kwargs", {})  # this open_clip release has no such field: wrap create_model
        create = timm.create_model
        with mock.patch.object(open_clip.timm_model.timm, "create_model", lambda *a, **k: create(*a, **{**k, **kwargs})):
            self.tower = _build_vision_tower(clip["model_cfg"]["embed_dim"], vision_cfg)
        weights = next(p for p in (bundle / "vision").iterdir() if p.suffix in (".safetensors", ".bin"))
        state = load_file(weights) if weights.suffix == ".safetensors" else torch.load(weights)
        self.tower.load_state_dict({k[len("visual."):]: v for k, v in state.items() if k.startswith("visual.")})
        self.tower.eval()
        self.proj = load_file(bundle / "projector.safetensors")
        self.llm = AutoModelForCausalLM.from_pretrained(bundle / "llm", dtype=torch.float32).eval()
        ranks = load_tiktoken_bpe(str(bundle / "llm/original/tokenizer.model"))
        specials = {"<|begin_of_text|>": 128000, "<|end_of_text|>": 128001, "<|start_header_id|>": 128006,
                    "<|end_header_id|>": 128007, "<|eot_id|>": 128009}
        pattern = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+"
                   r"|\s+(?!\S)|\s+")
        self.enc = tiktoken.Encoding("llama3", pat_str=pattern, mergeable_ranks=ranks, special_tokens=specials)
        pre = clip.get("preprocess_cfg", {})
        self.transform = open_clip.image_transform(vision_cfg["image_size"], is_train=False, mean=pre.get("mean"),
                                                   std=pre.get("std"))
        self.load_s = time.perf_counter() - t0

    def answer(self, image, question, max_new_tokens, ignore_eos=False):
        """Answers one question: timings (preprocess, first token, decode tokens/s) and the answer ids."""
        import torch
        from PIL import Image
        t0 = time.perf_counter()
        pixels = self.transform(Image.open(image)).unsqueeze(0)
        preprocess_s = time.perf_counter() - t0
        with torch.inference_mode():
            t0 = time.perf_counter()
            hidden = {}
            blocks = self.tower.trunk.blocks
            layer = self.cfg["feature_layer"] % (len(blocks) + 1)  # HF numbering: 0 = embeddings
            hook = blocks[layer - 1].register_forward_hook(lambda m, i, o: hidden.setdefault("x", o))
            self.tower(pixels)
            hook.remove()
            x = hidden["x"][:, 1:]  # patch tokens (feature_select: patch)
            x = torch.nn.functional.linear(x, self.proj["mm_projector.0.weight"], self.proj["mm_projector.0.bias"])
            x = torch.nn.functional.gelu(x)
            x = torch.nn.functional.linear(x, self.proj["mm_projector.2.weight"], self.proj["mm_projector.2.bias"])
            # data/prompt: the user turn is N image placeholders, "\n", the question.
            enc, image_token = self.enc, self.cfg["image_token_id"]
            head = enc.encode("<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\n", allowed_special="all")
            tail = enc.encode("<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n", allowed_special="all")
            ids = torch.tensor([head + [image_token] * x.shape[1] + enc.encode("\n") + enc.encode(question) + tail])
            embeds = self.llm.get_input_embeddings()(ids)
            embeds[ids == image_token] = x.reshape(-1, x.shape[-1])

            times = []

            class Clock:  # generate's streamer: put() once with the prompt, then once per new token
                def put(self, value):
                    times.append(time.perf_counter())

                def end(self):
                    pass

            out = self.llm.generate(inputs_embeds=embeds, attention_mask=torch.ones_like(ids),
                                    max_new_tokens=max_new_tokens, min_new_tokens=max_new_tokens if ignore_eos else 0,
                                    do_sample=False, eos_token_id=[128001, 128008, 128009], pad_token_id=128004,
                                    streamer=Clock())
        tokens = times[1:]
        n = len(tokens)
        return {"preprocess_s": preprocess_s, "first_token_s": tokens[0] - t0,
                "tokens_per_s": (n - 1) / (tokens[-1] - tokens[0]) if n > 1 else None, "ids": out[0].tolist()}


def peer(bundle, image, question, max_new_tokens, threads):
    """The Python pipeline in this (fresh) process; prints its timings and answer ids as JSON."""
    p = Peer(bundle, threads)
    print(json.dumps({"import_s": p.import_s, "load_s": p.load_s, **p.answer(image, question, max_new_tokens)}))


def median(runs, key):
    values = [r[key] for r in runs if r[key] is not None]
    return statistics.median(values) if values else float("nan")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--medvqa", default=str(ROOT / "build" / "medvqa"))
    ap.add_argument("--model", default=str(ROOT / "runs/demo/stage2"))
    ap.add_argument("--predictions", default=str(ROOT / "runs/demo/eval/predictions.jsonl"),
                    help="the first line gives the image and question")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--max-new-tokens", type=int, default=16)
    ap.add_argument("--peer", nargs=2, metavar=("BUNDLE", "IMAGE"), help=argparse.SUPPRESS)
    ap.add_argument("--question", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.peer:
        return peer(Path(a.peer[0]), a.peer[1], a.question, a.max_new_tokens, a.threads)

    item = json.loads(Path(a.predictions).read_text().splitlines()[0])
    image, question = item["image"], item["question"]
    common = ["--max-new-tokens", str(a.max_new_tokens), "--threads", str(a.threads)]
    ours = []
    for _ in range(a.runs):
        t0 = time.perf_counter()
        proc = subprocess.run([a.medvqa, "--log-level", "warn", "ask", "--model", a.model, "--image", image,
                               "--question", question, "--json", *common], capture_output=True, text=True, check=True)
        out = json.loads(proc.stdout)
        ours.append({**out["timing"], "wall_s": time.perf_counter() - t0, "ids": out["ids"]})
    with tempfile.TemporaryDirectory() as tmp:
        bundle = Path(tmp) / "bundle"
        subprocess.run([a.medvqa, "--log-level", "warn", "export", "--model", a.model, "--out", bundle, "--bundle"],
                       check=True)
        theirs = []
        for _ in range(a.runs):
            t0 = time.perf_counter()
            proc = subprocess.run([sys.executable, __file__, "--peer", bundle, image, "--question", question, *common],
                                  capture_output=True, text=True, check=True)
            theirs.append({**json.loads(proc.stdout), "wall_s": time.perf_counter() - t0})

    print(f"ask on {a.model}: question {question!r} (ground truth {item.get('gt_answer')!r}), {a.runs} fresh "
          f"processes each, median; {a.threads} threads, at most {a.max_new_tokens} new tokens")
    print(f"answer ids: medvqa {ours[0]['ids']}, python {theirs[0]['ids']}, "
          f"{'equal' if ours[0]['ids'] == theirs[0]['ids'] else 'DIFFERENT'}")
    print(f"{'':16}{'medvqa':>10}{'python':>10}{'ratio':>8}")
    for key in KEYS + ("wall_s",):
        m, p = median(ours, key), median(theirs, key)
        ratio = m / p if key == "tokens_per_s" else p / m  # > 1: medvqa is faster
        print(f"{key:16}{m:10.4f}{p:10.4f}{ratio:7.2f}x")
    print(f"{'import_s':16}{'-':>10}{median(theirs, 'import_s'):10.4f}   (Python imports, inside python's wall_s)")


if __name__ == "__main__":
    main()

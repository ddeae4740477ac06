"""Interrupted training on the demo towers (CPU, two threads, LoRA dropout 0.05 as in the paper's
config, two micro-batches per step): a stage-2 run killed with SIGKILL after a checkpoint, or
stopped with SIGTERM (which writes a checkpoint and exits 128+15), and resumed with
train.resume=auto ends with exactly the weights of an uninterrupted run, bit for bit. A
non-finite loss stops a run. And the model overfits a handful of items."""
import json
import signal
import subprocess
import time

import pytest
import torch
from safetensors.torch import load_file, save_file

from vqa_reference import make_demo, write_config, write_few_items

STEPS = 12
OVERFIT_ITEMS = 4
OVERFIT_STEPS = 60
OVERFIT_LOSS = 0.05  # mean token loss of the last step: the answers are memorised
LORA = {"r": 4, "alpha": 8, "dropout": 0.05, "targets": ["q_proj", "v_proj", "down_proj"]}


@pytest.fixture(scope="module")
def demo(tmp_path_factory, medvqa_bin):
    return make_demo(medvqa_bin, tmp_path_factory.mktemp("interrupt"))


def config(demo, name, save_every=1):
    return write_config(demo / f"{name}.json", demo / "towers", demo / "data", "lora", demo / name,
                        model={"feature_layer": -1, "lora": LORA, "threads": 2},
                        train={"max_steps": STEPS, "batch_size": 2, "grad_accum": 2, "lr": 1e-3,
                               "save_every": save_every, "keep_last": 2})


def final_weights(run_dir):
    return {**load_file(run_dir / "final/projector.safetensors"),
            **load_file(run_dir / "final/adapter/adapter_model.safetensors")}


def assert_same_weights(got, want):
    assert sorted(got) == sorted(want)
    for k in want:
        assert got[k].dtype == want[k].dtype and got[k].shape == want[k].shape, k
        bits = torch.int32 if want[k].element_size() == 4 else torch.int16
        assert torch.equal(got[k].view(bits), want[k].view(bits)), \
            f"{k}: not bit-identical, max abs diff {float((got[k] - want[k]).abs().max()):.3g}"


@pytest.fixture(scope="module")
def straight(demo, medvqa_bin):
    subprocess.run([str(medvqa_bin), "train", "-c", str(config(demo, "straight"))], check=True, capture_output=True)
    return final_weights(demo / "straight")


def interrupt(medvqa_bin, cfg, run_dir, sig, after_step=1, timeout=300):
    """Starts a run, waits for its checkpoint of `after_step`, sends `sig`: (exit status, stderr)."""
    log = run_dir.parent / f"{run_dir.name}.log"  # a file, not a pipe nobody drains while polling
    with log.open("w") as err:
        proc = subprocess.Popen([str(medvqa_bin), "train", "-c", str(cfg)], stdout=subprocess.DEVNULL, stderr=err)
        checkpoint = run_dir / f"checkpoints/step_{after_step:09d}"
        deadline = time.monotonic() + timeout
        while not checkpoint.is_dir():
            assert proc.poll() is None, f"the run ended before its checkpoint {checkpoint}:\n{log.read_text()}"
            assert time.monotonic() < deadline, "no checkpoint in time"
            time.sleep(0.005)
        proc.send_signal(sig)
        proc.wait(timeout=timeout)
    assert not (run_dir / "final").exists(), "the run finished before the signal: nothing was interrupted"
    return proc.returncode, log.read_text()


def resume(run, cfg, run_dir):
    run("train", "-c", cfg, "train.resume=auto")
    steps = [m["step"] for m in map(json.loads, (run_dir / "metrics.jsonl").read_text().splitlines()) if "loss" in m]
    assert steps == list(range(1, STEPS + 1)), f"metrics.jsonl should hold each step once, got {steps}"
    return final_weights(run_dir)


def test_sigkill_then_resume_auto_matches_an_uninterrupted_run(demo, run, medvqa_bin, straight):
    cfg, run_dir = config(demo, "killed"), demo / "killed"
    code, _ = interrupt(medvqa_bin, cfg, run_dir, signal.SIGKILL)
    assert code == -signal.SIGKILL
    # A kill while a checkpoint is being written leaves its temporary folder: resume must skip it.
    partial = run_dir / "checkpoints" / f"step_{STEPS - 1:09d}.tmp"
    partial.mkdir(exist_ok=True)
    (partial / "trainable.safetensors").write_bytes(b"\0" * 7)
    assert_same_weights(resume(run, cfg, run_dir), straight)


def test_sigterm_writes_a_checkpoint_exits_143_and_resumes_exactly(demo, run, medvqa_bin, straight):
    # Checkpoints every 5 steps: the signal arrives after step 5's, so step 6's can only be the signal's.
    cfg, run_dir = config(demo, "terminated", save_every=5), demo / "terminated"
    code, stderr = interrupt(medvqa_bin, cfg, run_dir, signal.SIGTERM, after_step=5)
    assert code == 128 + signal.SIGTERM, stderr
    assert "signal 15" in stderr and "resume with train.resume=auto" in stderr
    assert sorted(p.name for p in (run_dir / "checkpoints").iterdir()) == ["step_000000005", "step_000000006"]
    assert_same_weights(resume(run, cfg, run_dir), straight)


def test_a_non_finite_loss_stops_the_run_before_a_checkpoint_naming_the_last_good_one(demo, run, tmp_path):
    """A run resumed from a checkpoint whose projector holds a NaN: it stops at the first step that
    reads the loss (step 3: it checkpoints every step), names that step and writes no checkpoint of it."""
    cfg = config(demo, "nan")
    run("train", "-c", cfg, "train.max_steps=2")
    saved = demo / "nan/checkpoints/step_000000002/trainable.safetensors"
    weights = load_file(saved)
    name = next(k for k in weights if k.startswith("projector.") and k.endswith("weight"))
    weights[name].view(-1)[0] = float("nan")
    save_file(weights, saved, metadata={"format": "pt"})
    proc = run("train", "-c", cfg, "train.max_steps=4", "train.resume=auto", check=False)
    assert proc.returncode == 1, proc.stderr
    assert ("error: train: loss is not finite at step 3; stopping. The last good checkpoint is "
            f"{demo / 'nan/checkpoints/step_000000002'}") in proc.stderr, proc.stderr
    assert not (demo / "nan/checkpoints/step_000000003").exists()


def test_overfits_a_handful_of_items(demo, run, tmp_path):
    data = write_few_items(demo / "data", OVERFIT_ITEMS, tmp_path / "few.jsonl")
    cfg = write_config(tmp_path / "overfit.json", demo / "towers", data, "lora", tmp_path / "run",
                       model={"feature_layer": -1, "lora": {"r": 8, "alpha": 16, "dropout": 0.0}},
                       train={"max_steps": OVERFIT_STEPS, "batch_size": OVERFIT_ITEMS, "lr": 1e-2,
                              "projector_lr": 1e-2, "warmup_ratio": 0.0, "save_every": 0},
                       data_extra={"format": "jsonl"})
    run("train", "-c", cfg)
    losses = [m["loss"] for m in map(json.loads, (tmp_path / "run/metrics.jsonl").read_text().splitlines())
              if "loss" in m]
    print(f"overfit: loss {losses[0]:.3f} -> {losses[-1]:.4f} in {len(losses)} steps")
    assert losses[-1] < OVERFIT_LOSS, f"{OVERFIT_ITEMS} items not memorised: losses {losses}"

"""Shared fixtures of the parity tests: the medvqa binary, a runner that captures its output, and
the demo data + towers (written by medvqa in the real open_clip / HF formats) with a config writer
for tiny training runs on them.

The binary defaults to build/medvqa; MEDVQA_BIN points elsewhere (another build folder)."""
import json
import os
import subprocess
from pathlib import Path

import pytest

import vqa_reference
from vqa_reference import make_demo

ROOT = Path(__file__).resolve().parents[2]
TOKENIZER_MODEL = ROOT / "third_party" / "llama3" / "tokenizer.model"
TRAIN_STEPS = 6


@pytest.fixture(scope="session")
def medvqa_bin():
    path = Path(os.environ.get("MEDVQA_BIN", ROOT / "build" / "medvqa"))
    if not path.exists():
        pytest.fail(f"medvqa binary not found at {path}: build first (scripts/build.sh)")
    return path


@pytest.fixture(scope="session")
def run(medvqa_bin):
    """run(*args, check=True) -> CompletedProcess with text stdout/stderr."""

    def _run(*args, check=True, input=None, timeout=600):
        proc = subprocess.run([str(medvqa_bin), *map(str, args)], capture_output=True, text=True,
                              input=input, timeout=timeout)
        if check and proc.returncode != 0:
            raise AssertionError(f"medvqa {' '.join(map(str, args))} exited {proc.returncode}:\n{proc.stderr}")
        return proc

    return _run


def assert_user_error(proc, *fragments):
    """A user error: exit code 1, one 'error: ...' message naming every fragment, no crash."""
    assert proc.returncode == 1, f"expected exit 1, got {proc.returncode}\nstderr: {proc.stderr}"
    assert "error: " in proc.stderr, proc.stderr
    for f in fragments:
        assert f in proc.stderr, f"{f!r} not in stderr: {proc.stderr}"


@pytest.fixture(scope="session")
def demo(tmp_path_factory, medvqa_bin):
    """A folder with data/ (synthetic OmniMedVQA layout, 12 images per modality) and towers/."""
    return make_demo(medvqa_bin, tmp_path_factory.mktemp("demo"), 12)


def write_config(demo, name, stage, out, projector=None, dist=None, **train):
    """A training config on the demo fixture; stage 2 starts from `projector` (default: s1's)."""
    model = {"feature_layer": -1, "threads": 2, "lora": {"r": 8 if stage == "lora" else 0, "alpha": 16}}
    if stage == "lora":
        model["projector_weights"] = str(projector or demo / "s1/final/projector.safetensors")
    return vqa_reference.write_config(demo / f"{name}.json", demo / "towers", demo / "data", stage, out, model=model,
                                      train={"max_steps": TRAIN_STEPS, "batch_size": 8, "lr": 1e-3, "save_every": 2,
                                             **train}, dist=dist)


def eval_config(demo, out, data=None, **eval_keys):
    """An eval config of the demo's untrained towers (no LoRA, fp32 on CPU), written beside `out`;
    `data` and `eval_keys` set keys of those sections."""
    cfg = {"model": {"vision": str(demo / "towers/vision"), "llm": str(demo / "towers/llm"), "feature_layer": -1,
                     "dtype": "fp32", "device": "cpu", "threads": 2, "lora": {"r": 0}},
           "data": {"root": str(demo / "data"), "max_seq_len": 128, "workers": 1, **(data or {})},
           "eval": {"out_dir": str(out), "max_new_tokens": 2, "blind": False, **eval_keys}}
    path = out.parent / f"{out.name}.json"  # JSON is YAML
    path.write_text(json.dumps(cfg))
    return path


# The only tests that may skip: those that need hardware this machine lacks. Any other skip fails
# the run, so that a missing fixture or tool cannot quietly test less.
ALLOWED_SKIP_REASON = "needs a CUDA device"


def pytest_sessionfinish(session, exitstatus):
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = reporter.stats.get("skipped", []) if reporter else []
    unexpected = [r for r in skipped if ALLOWED_SKIP_REASON not in str(r.longrepr)]
    if unexpected and session.exitstatus == 0:
        for r in unexpected:
            print(f"\nerror: {r.nodeid} was skipped ({r.longrepr}); only tests that {ALLOWED_SKIP_REASON} may skip")
        session.exitstatus = 1

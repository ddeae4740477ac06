"""Shared fixtures of the parity tests: the medvqa binary and a runner that captures its output.

The binary defaults to build/medvqa; MEDVQA_BIN points elsewhere (another build folder)."""
import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TOKENIZER_MODEL = ROOT / "third_party" / "llama3" / "tokenizer.model"


@pytest.fixture(scope="session")
def medvqa_bin():
    path = Path(os.environ.get("MEDVQA_BIN", ROOT / "build" / "medvqa"))
    if not path.exists():
        pytest.fail(f"medvqa binary not found at {path}: build first (scripts/build.sh)")
    return path


@pytest.fixture
def run(medvqa_bin):
    """run(*args, check=True) -> CompletedProcess with text stdout/stderr."""

    def _run(*args, check=True, input=None, timeout=600):
        proc = subprocess.run([str(medvqa_bin), *map(str, args)], capture_output=True, text=True,
                              input=input, timeout=timeout)
        if check and proc.returncode != 0:
            raise AssertionError(f"medvqa {' '.join(map(str, args))} exited {proc.returncode}:\n{proc.stderr}")
        return proc

    return _run


def write_demo(root, medvqa_bin, images_per_modality):
    """The demo's synthetic OmniMedVQA-layout data (root/data) and random-init towers (root/towers)."""
    for args in (["demo-data", "--out", root / "data", "--images-per-modality", str(images_per_modality)],
                 ["demo-towers", "--out", root / "towers", "--tokenizer", TOKENIZER_MODEL]):
        subprocess.run([str(medvqa_bin), *map(str, args)], check=True, capture_output=True)
    return root


def assert_user_error(proc, *fragments):
    """A user error: exit code 1, one 'error: ...' message naming every fragment, no crash."""
    assert proc.returncode == 1, f"expected exit 1, got {proc.returncode}\nstderr: {proc.stderr}"
    assert "error: " in proc.stderr, proc.stderr
    for f in fragments:
        assert f in proc.stderr, f"{f!r} not in stderr: {proc.stderr}"

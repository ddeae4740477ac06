"""The build itself: LibTorch comes from the pinned wheel (never Debian's libtorch-dev), the CUDA
configuration links, the CLI answers --help/--version, and generated docs are current."""
import re
import subprocess
from pathlib import Path

import pytest
import torch

from conftest import ROOT, assert_user_error


def test_binary_links_the_wheels_cuda_libtorch(medvqa_bin):
    ldd = subprocess.run(["ldd", str(medvqa_bin)], capture_output=True, text=True, check=True).stdout
    torch_lib = Path(torch.__file__).resolve().parent / "lib"
    for lib in ("libtorch_cpu.so", "libtorch_cuda.so", "libc10.so"):
        line = next((l for l in ldd.splitlines() if lib in l), None)
        assert line and "not found" not in line, f"{lib} missing from ldd output:\n{ldd}"
        resolved = Path(line.split("=>")[1].split("(")[0].strip()).resolve()
        assert resolved.parent == torch_lib.resolve(), f"{lib} resolves to {resolved}, not the wheel's {torch_lib}"


def test_cmake_found_torch_in_the_venv(medvqa_bin):
    cache = (Path(medvqa_bin).parent / "CMakeCache.txt").read_text()
    torch_dir = re.search(r"^Torch_DIR:PATH=(.*)$", cache, re.M).group(1)
    assert Path(torch_dir).resolve().is_relative_to(Path(torch.__file__).resolve().parent), torch_dir


def test_version_and_help(run):
    assert run("--version").stdout.startswith("medvqa ")
    help_text = run("--help").stdout
    for cmd in ("config", "inspect", "convert"):
        assert cmd in help_text


def test_version_and_help_of_a_subcommand_exit_0(run):
    assert "--config" in run("train", "--help").stdout


@pytest.mark.parametrize("args,fragment", [
    (["frobnicate"], "unknown subcommand 'frobnicate'"),   # CLI11 alone: "A subcommand is required", 106
    ([], "A subcommand is required"),                     # none (106)
    (["score"], "--predictions is required"),             # a required option missing (106)
    (["score", "--predictions"], "--predictions"),        # an option without its value (107)
    (["tokenize", "--bos=maybe", "--text", "x", "--tokenizer", "t"], "--bos"),  # a flag given a value (107/105)
    (["train", "-c", "x.yaml", "--nproc-per-node", "two"], "two"),  # not a number (105)
    (["--log-level", "loud", "config", "-c", "x"], "loud"),  # not one of the choices (105)
])
def test_command_line_parse_errors_exit_1_with_an_error_line(run, args, fragment):
    """CLI11 returns its own codes (105, 106, 109, ...); medvqa's contract is `error: ...` and exit 1."""
    assert_user_error(run(*args, check=False), fragment)


def test_config_reference_doc_is_current(run):
    doc = (ROOT / "docs" / "config.md").read_text()
    assert run("config", "--reference").stdout in doc, "docs/config.md is stale: regenerate it (see its header)"


def test_config_errors_are_clean(run, tmp_path):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("train:\n  lrr: 1\n")
    proc = run("config", "-c", cfg, check=False)
    assert proc.returncode == 1 and "error: config " in proc.stderr and "did you mean 'train.lr'" in proc.stderr

"""The build itself: LibTorch comes from the pinned wheel (never Debian's libtorch-dev), the CUDA
configuration links, the CLI answers --help/--version, and generated docs are current."""
import re
import subprocess
from pathlib import Path

import torch

from conftest import ROOT


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


def test_unknown_subcommand_is_an_error(run):
    proc = run("frobnicate", check=False)
    assert proc.returncode != 0


def test_config_reference_doc_is_current(run):
    doc = (ROOT / "docs" / "config.md").read_text()
    assert run("config", "--reference").stdout in doc, "docs/config.md is stale: regenerate it (see its header)"


def test_config_errors_are_clean(run, tmp_path):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("train:\n  lrr: 1\n")
    proc = run("config", "-c", cfg, check=False)
    assert proc.returncode == 1 and "error: config " in proc.stderr and "did you mean 'train.lr'" in proc.stderr

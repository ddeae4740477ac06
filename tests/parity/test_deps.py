"""The non-root build's inputs: the pinned archives of scripts/deps/sources.txt (well-formed, each
one built by scripts/deps/build.sh, a changed archive refused by name) and the torch version check
of cmake/torch.cmake (an old torch refused with the Python, the version and the reason)."""
import re
import subprocess

from conftest import ROOT

MANIFEST = ROOT / "scripts" / "deps" / "sources.txt"


def manifest():
    lines = [l.split() for l in MANIFEST.read_text().splitlines() if l.strip() and not l.startswith("#")]
    return {fields[0]: fields for fields in lines}


def test_manifest_lines_are_name_archive_sha256_url():
    entries = manifest()
    assert len(entries) == len([l for l in MANIFEST.read_text().splitlines() if l.strip() and l[0] != "#"]), "a name twice"
    for name, fields in entries.items():
        assert len(fields) == 4, f"{name}: {fields}"
        _, archive, sha, url = fields
        assert re.fullmatch(r"[0-9a-f]{64}", sha), f"{name}: not a SHA-256: {sha}"
        assert url.startswith("http") and url.rsplit("/", 1)[1].replace("%7E", "~") == archive, f"{name}: {url}"


def test_every_archive_is_built_and_nothing_else():
    script = (ROOT / "scripts" / "deps" / "build.sh").read_text()
    used = set(re.findall(r"^cmake_install ([\w-]+)", script, re.M)) | set(re.findall(r'unpack ([\w-]+)\)', script))
    used |= set(re.findall(r'deps_archive ([\w-]+)\)', script))
    assert used == set(manifest()), f"built but not pinned: {used - set(manifest())}; pinned, not built: {set(manifest()) - used}"


def test_a_changed_or_missing_archive_is_named(tmp_path):
    name, archive, sha, url = next(iter(manifest().values()))
    (tmp_path / archive).write_bytes(b"not the archive")
    proc = subprocess.run(["bash", "-c", f'source "{ROOT}/scripts/lib.sh" && deps_verify "{tmp_path}"'],
                          capture_output=True, text=True, env={"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 1
    assert f"{tmp_path}/{archive}: SHA-256 differs from scripts/deps/sources.txt" in proc.stdout, proc.stdout
    other = list(manifest().values())[1][1]
    assert f"{other} missing in {tmp_path}" in proc.stdout, proc.stdout


def test_torch_older_than_2_6_is_refused_with_the_reason(tmp_path):
    python = tmp_path / "python"
    python.write_text("#!/bin/sh\necho '2.5.1;2.5.1+cu124;/nowhere;12.4;0'\n")
    python.chmod(0o755)
    proc = subprocess.run(["cmake", "-S", str(ROOT), "-B", str(tmp_path / "build"), f"-DMEDVQA_PYTHON={python}"],
                          capture_output=True, text=True)
    assert proc.returncode != 0
    message = " ".join(proc.stderr.split())
    assert f"refused torch 2.5.1+cu124 of {python}" in message and "from 2.6 on" in message, proc.stderr

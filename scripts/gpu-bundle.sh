#!/usr/bin/env bash
# Packs what a build of medvqa needs that the GPU machine lacks (no Debian C++ packages, no package
# registry, at most 64 MiB of files travel with a command) into one folder, default gpu-bundle/:
#   prefix/  the C++ libraries of scripts/deps/build.sh (static, for the std::string ABI of the torch
#            of MEDVQA_PYTHON: use a Python with the GPU machine's torch major.minor)
#   wheels/  the pure-Python test tools that machine has not (open_clip for the ViT check, pytest)
# scripts/gpu-check.sh builds from it with -DMEDVQA_DEPS_PREFIX; nothing of medvqa depends on it.
#   scripts/gpu-bundle.sh [OUT_DIR]    MEDVQA_DEPS_PREFIX: a prefix already built (default $MEDVQA_CACHE/prefix)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
source "$root/scripts/lib.sh"
bundle=${1:-$root/gpu-bundle}
prefix=${MEDVQA_DEPS_PREFIX:-$MEDVQA_CACHE/prefix}
python=${MEDVQA_PYTHON:-$root/.venv/bin/python}
limit_mib=60
wheels=(open_clip_torch==3.3.0 ftfy==6.3.1 wcwidth==0.9.4 pytest==9.2.0 pluggy==1.7.0 iniconfig==2.3.1 pygments==2.21.0)

bash "$root/scripts/deps/build.sh" "$prefix"
stage_begin "bundle"
rm -rf "$bundle" && mkdir -p "$bundle/wheels"
cp -a "$prefix" "$bundle/prefix"
"$python" -m pip download -q --no-deps --only-binary=:all: -d "$bundle/wheels" "${wheels[@]}"
mib() { echo $(( $(du -sb "$1" | cut -f1) / 1048576 )); }  # bytes, as they travel; not disk blocks
size=$(mib "$bundle")
echo "bundle: $bundle, ${size} MiB (prefix $(mib "$bundle/prefix") MiB, wheels $(mib "$bundle/wheels") MiB)"
stage_end
[ "$size" -le $limit_mib ] || { echo "error: the bundle is ${size} MiB, above ${limit_mib} MiB"; exit 1; }

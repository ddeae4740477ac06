#!/usr/bin/env bash
# Configures and builds medvqa into build/ (Ninja, ccache, Release). Extra args go to cmake.
# MEDVQA_PYTHON picks the Python whose torch is linked (default .venv), MEDVQA_DEPS_PREFIX the C++
# libraries of scripts/deps/build.sh instead of Debian's packages.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
source "$root/scripts/lib.sh"
# The precompiled header changes the preprocessor output ccache sees; these sloppinesses make
# ccache hit across fresh clones while staying correct for PCH builds.
export CCACHE_SLOPPINESS=pch_defines,time_macros,include_file_mtime,include_file_ctime
export CCACHE_BASEDIR="$root"
export CCACHE_MAXSIZE=${CCACHE_MAXSIZE:-5G}
stage_begin "configure"
ensure_build_tools
build_dir=${MEDVQA_BUILD_DIR:-$root/build}
choices=()
[ -n "${MEDVQA_PYTHON:-}" ] && choices+=(-DMEDVQA_PYTHON="$MEDVQA_PYTHON")
[ -n "${MEDVQA_DEPS_PREFIX:-}" ] && choices+=(-DMEDVQA_DEPS_PREFIX="$MEDVQA_DEPS_PREFIX")
cmake -S "$root" -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release -DMEDVQA_TESTS=ON "${choices[@]}" "$@" >"$build_dir.cmake.log" 2>&1 || { cat "$build_dir.cmake.log"; exit 1; }
stage_end
stage_begin "build"
jobs=${MEDVQA_JOBS:-$(nproc)}
targets=(); [ -n "${MEDVQA_TARGETS:-}" ] && targets=(--target $MEDVQA_TARGETS)
cmake --build "$build_dir" -j "$jobs" "${targets[@]}"
ccache -s 2>/dev/null | grep -E "Hits|Misses" | head -2 || true
stage_end

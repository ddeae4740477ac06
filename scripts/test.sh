#!/usr/bin/env bash
# The whole test suite from a fresh clone: set-up, build, GoogleTest (ctest) and the Python parity
# tests (pytest, tests/parity). Prints both summaries; fails if either fails.
set -uo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
source "$root/scripts/lib.sh"
t0=$(date +%s)
bash "$root/scripts/setup.sh" || exit 1
bash "$root/scripts/build.sh" || exit 1
cd "$root"
stage_begin "ctest"
ctest --test-dir build --output-on-failure -j "$(nproc)" > build/ctest.log 2>&1
ctest_rc=$?
grep -E "tests passed|tests failed|The following tests FAILED|\(Failed\)|\(SEGFAULT\)|\(Timeout\)|Subprocess aborted" build/ctest.log
[ $ctest_rc -eq 0 ] || cat build/ctest.log | tail -80
stage_end
stage_begin "pytest"
"$root/.venv/bin/python" -m pytest tests/parity -q -p no:cacheprovider
pytest_rc=$?
stage_end
echo "== summary: ctest rc=$ctest_rc, pytest rc=$pytest_rc, total $(( $(date +%s) - t0 )) s"
[ $ctest_rc -eq 0 ] && [ $pytest_rc -eq 0 ]

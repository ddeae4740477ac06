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
# Every GoogleTest test must run on a CPU: a skipped one fails the suite.
if grep -q "The following tests did not run" build/ctest.log; then
  sed -n '/The following tests did not run/,/^$/p' build/ctest.log
  echo "error: ctest skipped tests that must run on this CPU"
  ctest_rc=1
fi
stage_end
stage_begin "pytest"
"$root/.venv/bin/python" -m pytest tests/parity -q -p no:cacheprovider -rs --durations=10
pytest_rc=$?
stage_end
echo "== summary: ctest rc=$ctest_rc, pytest rc=$pytest_rc, total $(( $(date +%s) - t0 )) s"
[ $ctest_rc -eq 0 ] && [ $pytest_rc -eq 0 ]

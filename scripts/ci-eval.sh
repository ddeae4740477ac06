#!/usr/bin/env bash
# The CI regression gate on the demo model (scripts/demo.sh trains it into runs/demo/): evaluate it
# with eval.baseline set to the committed baseline evaluation of the demo. The evaluation writes
# comparison.json, compare.xml (JUnit, one test case per group) and the report's 'against baseline'
# section, and exits 0 on a pass, 1 on a user error (no model, unreadable baseline), 3 on a
# significant drop (README: CI gate); so does this script.
#   MEDVQA_EVAL_CONFIG  eval config (default configs/demo/eval.yaml)
#   MEDVQA_EVAL_OUT     where the evaluation goes (default runs/demo/eval)
#   MEDVQA_BASELINE     baseline eval directory (default configs/demo/baseline: predictions.jsonl + metrics.json)
#   MEDVQA_BIN          the binary (default build/medvqa)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bin=${MEDVQA_BIN:-$root/build/medvqa}
config=${MEDVQA_EVAL_CONFIG:-$root/configs/demo/eval.yaml}
out=${MEDVQA_EVAL_OUT:-$root/runs/demo/eval}
baseline=${MEDVQA_BASELINE:-$root/configs/demo/baseline}

status=0
"$bin" eval -c "$config" "eval.out_dir=$out" "eval.baseline=$baseline" >/dev/null || status=$?
case $status in
  0) verdict=passed ;;
  3) verdict="FAILED (a significant drop against the baseline)" ;;
  *) echo "ci-eval: the evaluation did not run (exit $status)" >&2; exit "$status" ;;
esac
echo "ci-eval: $verdict; report $out/report.html, JUnit $out/compare.xml, numbers $out/comparison.json"
exit "$status"

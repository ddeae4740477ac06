# The step runner of scripts/gpu-check.sh, sourced: each step runs under its own timeout and within
# what is left of the run's budget, the run goes on past a failed step, and each step leaves one
# record (name, status passed/failed/skipped, reason, seconds, key figures) for the JSON summary.
#   steps_begin OUT_DIR BUDGET_S HAVE_GPU(0|1)   STEPS_TIME_SCALE=N multiplies the budget and every timeout
#   step NAME TIMEOUT_S [--gpu] COMMAND...   COMMAND's output goes to OUT_DIR/log.txt; it may write a
#       JSON object of key figures to $STEP_FIGURES; exit 77 means skipped (its last output line says why)
#   steps_end [JSON object of facts about the run]   -> OUT_DIR/summary.json; returns 1 if a step failed
steps_begin() {
  _steps_scale=${STEPS_TIME_SCALE:-1}
  _steps_out=$1; _steps_deadline=$(( $(date +%s) + $2 * _steps_scale )); _steps_gpu=$3
  mkdir -p "$_steps_out/figures"; : > "$_steps_out/steps.jsonl"; : > "$_steps_out/log.txt"
}
_steps_record() {  # name status seconds reason
  python3 -c 'import json, os, sys
name, status, seconds, reason, figures = sys.argv[1:]
rec = {"step": name, "status": status, "seconds": round(float(seconds), 1)}
if reason: rec["reason"] = reason
if os.path.exists(figures) and os.path.getsize(figures): rec["figures"] = json.load(open(figures))
print(json.dumps(rec))' "$@" "$_steps_out/figures/$1.json" >> "$_steps_out/steps.jsonl"
  echo "== $1: $2${4:+ ($4)}, $3 s" | tee -a "$_steps_out/log.txt"
}
step() {
  local name=$1 limit=$(( $2 * _steps_scale )) gpu=0; shift 2
  [ "$1" = --gpu ] && { gpu=1; shift; }
  if [ $gpu = 1 ] && [ "$_steps_gpu" != 1 ]; then _steps_record "$name" skipped 0 "no GPU"; return 0; fi
  local left=$(( _steps_deadline - $(date +%s) - 5 ))
  if [ $left -le 0 ]; then _steps_record "$name" skipped 0 "out of time (run budget spent)"; return 0; fi
  [ $limit -le $left ] || limit=$left
  echo "== $name (at most $limit s)" | tee -a "$_steps_out/log.txt"
  local t0 rc status reason=""; t0=$(date +%s.%N)
  STEP_FIGURES=$_steps_out/figures/$name.json timeout --kill-after=10 "$limit" "$@" > "$_steps_out/step.log" 2>&1
  rc=$?
  cat "$_steps_out/step.log" >> "$_steps_out/log.txt"
  case $rc in
    0) status=passed ;;
    77) status=skipped; reason=$(tail -n1 "$_steps_out/step.log") ;;
    124|137) status=failed; reason="timed out after $limit s" ;;
    *) status=failed; reason="exit $rc: $(grep -v '^[[:space:]]*$' "$_steps_out/step.log" | tail -n1 | cut -c1-300)" ;;
  esac
  _steps_record "$name" $status "$(python3 -c 'import sys, time; print(round(time.time() - float(sys.argv[1]), 1))' "$t0")" "$reason"
  return 0
}
steps_end() {
  local facts=${1:-"{}"}
  python3 -c 'import json, sys
steps = [json.loads(l) for l in open(sys.argv[1])]
summary = {**json.loads(sys.argv[3]), "steps": steps,
           **{s: sum(r["status"] == s for r in steps) for s in ("passed", "failed", "skipped")}}
json.dump(summary, open(sys.argv[2], "w"), indent=1)
print("summary: {passed} passed, {failed} failed, {skipped} skipped".format(**summary), "->", sys.argv[2])
sys.exit(1 if summary["failed"] else 0)' "$_steps_out/steps.jsonl" "$_steps_out/summary.json" "$facts" | tee -a "$_steps_out/log.txt"
  return "${PIPESTATUS[0]}"
}

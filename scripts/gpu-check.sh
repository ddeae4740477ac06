#!/usr/bin/env bash
# The GPU check: on a machine with a GPU, CUDA, CMake, ninja and a Python with torch >= 2.6 (and
# transformers, timm, peft) but none of Debian's C++ packages, builds medvqa from the bundle of
# scripts/gpu-bundle.sh and tells within one 10-minute command whether the GPU path works and how
# fast it is. Each step runs under its own timeout and the run goes on past failures (scripts/steps.sh);
# steps that need a GPU report "skipped: no GPU" without one. Writes $OUT/summary.json and
# $OUT/log.txt (OUT default out/gpu-check); exits 1 if a step failed.
#   scripts/gpu-check.sh            MEDVQA_PYTHON (default python3), MEDVQA_GPU_BUNDLE (default gpu-bundle/),
#                                   MEDVQA_GPU_CHECK_BUDGET_S (default 570: the whole run, build included),
#                                   STEPS_TIME_SCALE (default 1: multiplies the budget and every timeout,
#                                   for a rehearsal on a slower machine)
set -uo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
source "$root/scripts/lib.sh"
source "$root/scripts/steps.sh"
export MEDVQA_PYTHON=${MEDVQA_PYTHON:-$(command -v python3)}
export bundle=${MEDVQA_GPU_BUNDLE:-$root/gpu-bundle}
out=${OUT:-$root/out/gpu-check}
export work=$root/build-gpu-check; mkdir -p "$work"  # build folder and scratch; kept between runs, so a rerun builds incrementally
export bin=$work/build/medvqa demo=$root/runs/demo root
export MEDVQA_BIN=$bin  # for the parity tests (tests/parity/conftest.py)
export PYTHONPATH=$work/pylib${PYTHONPATH:+:$PYTHONPATH}  # the bundle's wheels (open_clip, pytest)
gpu=$("$MEDVQA_PYTHON" -c "import torch; print(int(torch.cuda.is_available()))" 2>/dev/null || echo 0)
steps_begin "$out" "${MEDVQA_GPU_CHECK_BUDGET_S:-570}" "$gpu"

machine() {
  "$MEDVQA_PYTHON" - <<'EOF'
import json, os, torch
gpu = torch.cuda.is_available()
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), None)
facts = {"torch": torch.__version__, "cuda": torch.version.cuda, "cores": os.cpu_count(), "cpu": cpu,
         "gpu": torch.cuda.get_device_name(0) if gpu else None,
         "gpu_memory_gib": round(torch.cuda.get_device_properties(0).total_memory / 2**30, 1) if gpu else None}
print(json.dumps(facts))
json.dump(facts, open(os.environ["STEP_FIGURES"], "w"))
EOF
}
build() {
  deps_relocate "$bundle/prefix" || return 1
  local t0; t0=$(date +%s)
  # The binary first, so the GPU steps start early; the tests build in the ctest step.
  MEDVQA_BUILD_DIR=$work/build MEDVQA_DEPS_PREFIX=$bundle/prefix MEDVQA_TARGETS=medvqa bash "$root/scripts/build.sh" || return 1
  grep "medvqa:" "$work/build.cmake.log"
  printf '{"seconds": %d, "jobs": %d}\n' $(( $(date +%s) - t0 )) "$(nproc)" > "$STEP_FIGURES"
}
wheels() {  # pure-Python wheels unpack onto the path as they are
  "$MEDVQA_PYTHON" -c "import sys, zipfile; [zipfile.ZipFile(w).extractall(sys.argv[1]) for w in sys.argv[2:]]" \
    "$work/pylib" "$bundle"/wheels/*.whl
}
ctest_all() {
  cmake --build "$work/build" -j "$(nproc)" > "$work/build-tests.log" 2>&1 || { tail -30 "$work/build-tests.log"; return 1; }
  ctest --test-dir "$work/build" -j "$(nproc)" --timeout 120 > "$work/ctest.log" 2>&1; local rc=$?
  grep -E "tests passed|tests failed|\(Failed\)|\(Timeout\)|\(SEGFAULT\)" "$work/ctest.log"
  grep -oE "[0-9]+ tests failed out of [0-9]+" "$work/ctest.log" | awk '{printf "{\"failed\": %d, \"total\": %d}\n", $1, $6}' > "$STEP_FIGURES"
  return $rc
}
demo_data() {
  rm -rf "$demo" && "$bin" demo-data --out "$demo/data" && \
    "$bin" demo-towers --out "$demo/towers" --tokenizer "$root/third_party/llama3/tokenizer.model"
}
# The demo's stage 1 on the GPU through a one-rank NCCL group: started by the environment alone, or by torchrun.
nccl() {
  local how=$1 dir=$work/nccl-$1 launcher=()
  if [ "$how" = env ]; then launcher=(env RANK=0 WORLD_SIZE=1 LOCAL_RANK=0 LOCAL_WORLD_SIZE=1 MASTER_ADDR=127.0.0.1 MASTER_PORT=29531)
  else launcher=("$MEDVQA_PYTHON" -m torch.distributed.run --no-python --nproc-per-node 1 --master-port 29532); fi
  "${launcher[@]}" "$bin" train -c "$root/configs/demo/stage1_align.yaml" model.device=cuda train.max_steps=4 \
    train.out_dir="$dir" 2>&1 | tee "$dir.log"
  [ "${PIPESTATUS[0]}" = 0 ] || return 1
  grep -q "nccl on cuda:0" "$dir.log" || { echo "no 'nccl on cuda:0' in the log: the run did not go through NCCL"; return 1; }
}
# The demo on the GPU in bf16: stage 1, stage 2 with gradient checkpointing and LoRA dropout in two
# halves (the second resumes from the first's checkpoint), the evaluation and one question.
demo_gpu() {
  local cuda=(model.device=cuda model.dtype=bf16) s2=(model.gradient_checkpointing=true model.lora.dropout=0.05)
  "$bin" train -c "$root/configs/demo/stage1_align.yaml" "${cuda[@]}" || return 1
  "$bin" train -c "$root/configs/demo/stage2_lora.yaml" "${cuda[@]}" "${s2[@]}" train.max_steps=20 train.save_every=20 || return 1
  "$bin" train -c "$root/configs/demo/stage2_lora.yaml" "${cuda[@]}" "${s2[@]}" train.resume=auto 2>&1 | tee "$work/resume.log"
  [ "${PIPESTATUS[0]}" = 0 ] || return 1
  grep -q "train: resumed from" "$work/resume.log" || { echo "stage 2 did not resume from its checkpoint"; return 1; }
  "$bin" eval -c "$root/configs/demo/eval.yaml" "${cuda[@]}" > /dev/null || return 1
  "$MEDVQA_PYTHON" - "$demo/eval" "$bin" "$demo/stage2" <<'EOF'
import json, os, subprocess, sys
item = json.loads(open(f"{sys.argv[1]}/predictions.jsonl").readline())
answer = subprocess.run([sys.argv[2], "--log-level", "warn", "ask", "--model", sys.argv[3], "--image", item["image"],
                         "--question", item["question"]], capture_output=True, text=True, check=True).stdout.strip()
metrics = json.load(open(f"{sys.argv[1]}/metrics.json"))
figures = {"open_accuracy": metrics.get("open_accuracy"), "blind_open_accuracy": metrics.get("blind_open_accuracy"),
           "ask": {"question": item["question"], "answer": answer, "gt_answer": item["gt_answer"]}}
print(json.dumps(figures))
json.dump(figures, open(os.environ["STEP_FIGURES"], "w"))
EOF
}
check() { "$MEDVQA_PYTHON" "$root/scripts/gpu_check.py" "$1" --bin "$bin" --work "$work/checks" --demo "$demo"; }
export -f machine build wheels ctest_all demo_data nccl demo_gpu check deps_relocate

step machine 30 bash -c machine
step build 330 bash -c build
step wheels 30 bash -c wheels
step demo-data 60 bash -c demo_data
step logits 90 --gpu bash -c "check llama"
step vit 90 --gpu bash -c "check vit"
step grad-check 120 --gpu bash -c "check grad"
step checkpointing 120 --gpu bash -c "check checkpointing"
step nccl-env 90 --gpu bash -c "nccl env"
step nccl-torchrun 90 --gpu bash -c "nccl torchrun"
step demo 240 --gpu bash -c demo_gpu
step step-8b 300 --gpu bash -c "check step8b"
step pytest-cuda 180 --gpu "$MEDVQA_PYTHON" -m pytest "$root/tests/parity/test_dist.py" -q -p no:cacheprovider -k "gpu or cuda"
step ctest 360 bash -c ctest_all
steps_end "$(printf '{"gpu": %s, "python": "%s", "bundle": "%s"}' "$gpu" "$MEDVQA_PYTHON" "$bundle")"

#!/usr/bin/env bash
# The README's main command: set-up, build, then the main job on the embedded demo: synthetic
# OmniMedVQA-layout data, small random-init towers in the real formats, stage 1 (projector
# alignment), stage 2 (LoRA + projector), evaluation of the held-out split beside the blind
# baseline with its report, then one question about a held-out image with `medvqa ask`, each stage
# timed. Outputs go to runs/demo/.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
source "$root/scripts/lib.sh"
bash "$root/scripts/setup.sh"
bash "$root/scripts/build.sh"
bin="$root/build/medvqa"
demo="$root/runs/demo"
rm -rf "$demo"
mkdir -p "$demo"

stage_begin "demo data (synthetic OmniMedVQA layout)"
"$bin" demo-data --out "$demo/data" --images-per-modality ${DEMO_IMAGES:-110}
stage_end
stage_begin "demo towers (open_clip + HF LLaMA directories, Meta's tokenizer)"
"$bin" demo-towers --out "$demo/towers" --tokenizer "$root/third_party/llama3/tokenizer.model"
stage_end
stage_begin "stage 1: projector alignment"
"$bin" train -c "$root/configs/demo/stage1_align.yaml"
stage_end
stage_begin "stage 2: LoRA + projector"
"$bin" train -c "$root/configs/demo/stage2_lora.yaml"
stage_end
stage_begin "evaluation: held-out test split + blind baseline"
"$bin" eval -c "$root/configs/demo/eval.yaml" >/dev/null
"$bin" score --predictions "$demo/eval/predictions.jsonl"
stage_end
stage_begin "ask: one held-out image, from a fresh process"
# The first test-split item of the evaluation: its image, question and ground truth.
mapfile -t item < <("$root/.venv/bin/python" -c "import json,sys; p=json.loads(open(sys.argv[1]).readline()); print(p['image']); print(p['question']); print(p['gt_answer'])" "$demo/eval/predictions.jsonl")
echo "image:        ${item[0]}"
echo "question:     ${item[1]}"
echo -n "answer:       "
"$bin" --log-level warn ask --model "$demo/stage2" --image "${item[0]}" --question "${item[1]}"
echo "ground truth: ${item[2]}"
stage_end
echo "demo: metrics $demo/eval/metrics.json (blind baseline:" \
     "$("$root/.venv/bin/python" -c "import json,sys; print(json.load(open(sys.argv[1]))['blind_open_accuracy'])" "$demo/eval/metrics.json"));" \
     "loss curves $demo/stage1/loss_curve.png, $demo/stage2/loss_curve.png; PEFT adapter and projector in $demo/stage2/final/"
echo "demo: report $demo/eval/report.html (and report.md)"

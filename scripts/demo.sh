#!/usr/bin/env bash
# The README's main command: set-up, build, then the main job on the embedded demo. The trainer
# (issue 5) does not exist yet, so this runs what medvqa can do today on real files: resolve the
# paper's stage-2 config, read a checkpoint written by PyPI safetensors, and score the sample
# OmniMedVQA predictions with the official and open-ended rules.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
source "$root/scripts/lib.sh"
bash "$root/scripts/setup.sh"
bash "$root/scripts/build.sh"
bin="$root/build/medvqa"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

stage_begin "config: the paper's stage 2, lr overridden"
"$bin" config -c "$root/configs/stage2_lora.yaml" train.lr=1e-4 | sed -n '/^train:/,/^eval:/p'
stage_end

stage_begin "checkpoint: written by safetensors, inspected and converted by medvqa"
"$root/.venv/bin/python" -c "
import torch, sys
from safetensors.torch import save_file
save_file({'visual.trunk.pos_embed': torch.randn(1, 197, 768), 'text.proj': torch.randn(512, 768).bfloat16()},
          sys.argv[1], metadata={'format': 'pt'})" "$out/demo.safetensors"
"$bin" inspect "$out/demo.safetensors"
"$bin" convert "$out/demo.safetensors" "$out/visual.safetensors" --prefix visual.
stage_end

if "$bin" --help | grep -q "^  score"; then
  stage_begin "score: sample OmniMedVQA predictions"
  "$bin" score --predictions "$root/tests/data/predictions/omnimedvqa_sample.jsonl"
  stage_end
fi

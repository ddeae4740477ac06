#!/usr/bin/env bash
# Builds the libFuzzer targets with clang into build-fuzz/ and runs each for a bounded time
# (default 60 s; FUZZ_SECONDS=N), seeded with real files written by safetensors and torch.save.
# Prints executions and crashes per target. Not part of CI.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
source "$root/scripts/lib.sh"
seconds=${FUZZ_SECONDS:-60}
MEDVQA_BUILD_DIR="$root/build-fuzz" MEDVQA_TARGETS="fuzz_safetensors_header fuzz_unpickler fuzz_zip_directory" \
  bash "$root/scripts/build.sh" -DMEDVQA_FUZZ=ON -DMEDVQA_TESTS=OFF -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_C_COMPILER=clang
corpus="$root/build-fuzz/corpus"
mkdir -p "$corpus"/{safetensors,pickle,zip}
"$root/.venv/bin/python" - "$corpus" <<'PY'
import collections, io, sys, zipfile, torch
from safetensors.torch import save
out = sys.argv[1]
sd = collections.OrderedDict(w=torch.randn(3, 4), b=torch.zeros(2, dtype=torch.bfloat16), v=torch.arange(6)[1:4])
open(f"{out}/safetensors/seed", "wb").write(save(dict(sd), metadata={"format": "pt"}))
buf = io.BytesIO(); torch.save(sd, buf)
open(f"{out}/zip/seed", "wb").write(buf.getvalue())
with zipfile.ZipFile(io.BytesIO(buf.getvalue())) as z:
    pkl = [n for n in z.namelist() if n.endswith("data.pkl")][0]
    open(f"{out}/pickle/seed", "wb").write(z.read(pkl))
PY
for t in safetensors_header:safetensors unpickler:pickle zip_directory:zip; do
  name=fuzz_${t%%:*}; dir="$corpus/${t##*:}"
  log="$root/build-fuzz/$name.log"
  set +e
  (cd "$root/build-fuzz" && "./$name" "$dir" -max_total_time="$seconds" -rss_limit_mb=2048 -print_final_stats=1 >"$log" 2>&1)
  rc=$?
  set -e
  execs=$(awk '/stat::number_of_executed_units/ {print $2}' "$log")
  crashes=$(find "$root/build-fuzz" -maxdepth 1 \( -name "crash-*" -o -name "leak-*" -o -name "oom-*" \) | wc -l)
  echo "fuzz: $name: ${execs:-?} executions in ${seconds} s, exit $rc, crash/leak/oom files so far: $crashes"
done

#!/usr/bin/env bash
# Installs everything medvqa needs on a fresh Debian 12 machine: Debian packages, the pinned torch
# wheel (whose LibTorch we link) and the Python test oracles. Idempotent; repeated runs reuse the
# virtualenv (keyed by requirements-dev.txt), pip's cache and ccache under $MEDVQA_CACHE.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
source "$root/scripts/lib.sh"

apt_packages=(build-essential cmake ninja-build ccache clang libclang-rt-14-dev
  libsentencepiece-dev libopencv-dev nlohmann-json3-dev libcli11-dev libspdlog-dev
  libyaml-cpp-dev libgtest-dev libgmock-dev libbenchmark-dev libpcre2-dev libutf8proc-dev
  libgdcm-dev libgloo-dev libcpp-httplib-dev python3-pydicom python3-venv chromium chromium-driver)

stage_begin "apt packages"
missing=()
for p in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  sudo_cmd=(); [ "$(id -u)" = 0 ] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
stage_end

stage_begin "python virtualenv"
python=${MEDVQA_PYTHON:-$(command -v python3.11 || command -v python3)}
key=$( (cat "$root/requirements-dev.txt"; "$python" --version) | sha256sum | cut -c1-16)
venv="$MEDVQA_CACHE/venv-$key"
if [ ! -f "$venv/.complete" ]; then
  echo "setup: creating $venv (first run downloads the multi-GB torch wheel)"
  rm -rf "$venv"
  "$python" -m venv "$venv"
  "$venv/bin/pip" install -q --upgrade pip
  PIP_CACHE_DIR="$MEDVQA_CACHE/pip" "$venv/bin/pip" install -q --progress-bar off -r "$root/requirements-dev.txt"
  touch "$venv/.complete"
fi
ln -sfn "$venv" "$root/.venv"
stage_end

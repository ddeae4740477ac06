#!/usr/bin/env bash
# Runs a command where no Debian -dev package is visible, as on a cluster node or the GPU machine:
# a minimal Debian 12 chroot (debootstrap: compiler, CMake, ninja, Python; created on first use)
# that sees only this checkout, the source archives, one Python environment with torch and the
# CUDA toolkit. Needs root (debootstrap, chroot); it checks the non-root path, it is not part of it.
#   scripts/clean-env.sh VENV COMMAND...   e.g. scripts/clean-env.sh ~/.cache/medvqa/venv-torch2.11 scripts/gpu-check.sh
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
source "$root/scripts/lib.sh"
jail=${MEDVQA_CLEAN_ENV:-/srv/medvqa-clean}
if [ "$1" = --inside ]; then  # in a private mount namespace: bind the visible folders, enter the jail
  venv=$2; shift 2
  for d in "$root" "$MEDVQA_CACHE/sources" "$venv" /usr/local/cuda; do
    real=$(realpath "$d"); mkdir -p "$jail$real"; mount --bind "$real" "$jail$real"
    [ "$real" = "$d" ] || ln -sfn "$real" "$jail$d"
  done
  mount -t proc proc "$jail/proc"; mount --rbind /dev "$jail/dev"; mount -t tmpfs tmpfs "$jail/tmp"
  exec chroot "$jail" /usr/bin/env -i HOME=/root PATH="$venv/bin:/usr/local/cuda/bin:/usr/bin:/bin" \
    MEDVQA_PYTHON="$venv/bin/python" ${OUT:+OUT=$OUT} bash -c 'cd "$0" && exec "$@"' "$root" "$@"
fi
venv=$(cd "$1" && pwd); shift
if [ ! -x "$jail/usr/bin/cmake" ]; then
  debootstrap --variant=minbase --include=build-essential,cmake,ninja-build,python3,xz-utils,bzip2,procps \
    bookworm "$jail" http://deb.debian.org/debian
fi
exec unshare --mount --propagation private "$0" --inside "$venv" "$@"

#!/usr/bin/env bash
# Downloads the archives of scripts/deps/sources.txt into $MEDVQA_CACHE/sources and checks their
# SHA-256. Run it once where there is network (a login node); copy that folder to machines without.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
source "$root/scripts/lib.sh"
dir=$MEDVQA_CACHE/sources
mkdir -p "$dir"
while read -r name archive sha url; do
  [ -f "$dir/$archive" ] || { echo "fetch: $name <- $url"; curl -fsSL -o "$dir/$archive.part" "$url" && mv "$dir/$archive.part" "$dir/$archive"; }
done < <(deps_manifest)
deps_verify "$dir"

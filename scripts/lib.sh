# Shared by the scripts: cache location, stage timing. Sourced, not run.
export MEDVQA_CACHE=${MEDVQA_CACHE:-$HOME/.cache/medvqa}
export CCACHE_DIR=${CCACHE_DIR:-$MEDVQA_CACHE/ccache}
mkdir -p "$MEDVQA_CACHE"
stage_begin() { _stage_name=$1; _stage_t0=$(date +%s); echo "== $1"; }
stage_end() { echo "== $_stage_name: $(( $(date +%s) - _stage_t0 )) s"; }
# The pinned C++ dependency archives (scripts/deps/sources.txt), one "name archive sha256 url" a line.
deps_manifest() { grep -v '^#' "$(dirname "${BASH_SOURCE[0]}")/deps/sources.txt" | grep -v '^[[:space:]]*$'; }
# The archive file of one manifest entry by name.
deps_archive() { deps_manifest | awk -v n="$1" '$1==n{print $2}'; }
# Checks every archive of the manifest in folder $1; names each missing or altered one.
deps_verify() {
  local bad=0 name archive sha url
  while read -r name archive sha url; do
    if [ ! -f "$1/$archive" ]; then echo "deps: $archive missing in $1 (scripts/deps/fetch.sh, or copy it from $url)"; bad=1
    elif [ "$(sha256sum "$1/$archive" | cut -c1-64)" != "$sha" ]; then echo "deps: $1/$archive: SHA-256 differs from scripts/deps/sources.txt"; bad=1
    fi
  done < <(deps_manifest)
  return $bad
}
# CMake >= 3.25 and ninja on PATH: the system's, else PyPI's wheels in $MEDVQA_CACHE/tools (no root).
ensure_build_tools() {
  local have
  have=$(cmake --version 2>/dev/null | awk 'NR==1{print $3}')
  if [ -n "$have" ] && [ "$(printf '%s\n3.25\n' "$have" | sort -V | head -1)" = 3.25 ] && command -v ninja >/dev/null; then return; fi
  local tools=$MEDVQA_CACHE/tools
  if [ ! -x "$tools/bin/ninja" ]; then
    echo "tools: cmake ${have:-missing} or ninja missing; installing both from PyPI into $tools"
    python3 -m venv "$tools" && "$tools/bin/pip" install -q cmake ninja
  fi
  export PATH=$tools/bin:$PATH
}
# A dependency prefix moved or copied elsewhere (the GPU bundle): its CMake files name the folder it
# was built in (medvqa-prefix); point them at where it lies now.
deps_relocate() {
  local dir old; dir=$(cd "$1" && pwd); old=$(cat "$dir/medvqa-prefix")
  [ "$old" = "$dir" ] && return 0
  grep -rlIF "$old" "$dir" | xargs -r sed -i "s|$old|$dir|g"  # text files only: CMake, pkg-config
  echo "$dir" > "$dir/medvqa-prefix"
}

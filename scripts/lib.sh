# Shared by the scripts: cache location, stage timing. Sourced, not run.
export MEDVQA_CACHE=${MEDVQA_CACHE:-$HOME/.cache/medvqa}
export CCACHE_DIR=${CCACHE_DIR:-$MEDVQA_CACHE/ccache}
mkdir -p "$MEDVQA_CACHE"
stage_begin() { _stage_name=$1; _stage_t0=$(date +%s); echo "== $1"; }
stage_end() { echo "== $_stage_name: $(( $(date +%s) - _stage_t0 )) s"; }

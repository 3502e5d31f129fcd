#!/usr/bin/env bash
# Issue 16's "7B shapes" on the GPU machine, in one call (docs/benchmarks.md, "7B shapes"):
#   bash .gpu/on-device.sh 'bash scripts/gpu-7b.sh make' 'bash scripts/gpu-7b.sh expert' 'bash scripts/gpu-7b.sh pool'
# (three commands: on-device.sh gives each 500 s; `all` runs the three in one).
#   make    a Mistral-7B-shaped bf16 expert and a K=3 pool of 7B-shaped experts under $G
#           (tests/tools/make_7b_pool.py: a generated, b a Llama view of a's shards, c generated
#           with 16 layers and another vocabulary; ~22 GB written, ~10-30 s on 16 cores + NVMe)
#   expert  mot bench -m on the 7B expert: pp512/tg128 with and without graphs, pp2048; the load
#           and upload figures (staged pinned copies against the driver's, MOT_CUDA_STAGED=0)
#   pool    mot bench on the pool (pp512, tg64, the experts alone, the interaction share)
# Results: $OUT/7b-*.txt (and each command's log). Env: M (mot, default build-gpu/mot),
# G (/tmp/gm), OUT (/tmp/out), LAYERS (cut the experts, e.g. 4, to try the script on a small
# machine), C_LAYERS (c's depth, default 16), BACKEND (cuda; cpu to try it without a GPU),
# REPS (3), NP/NG/NP_LONG/NG_POOL (the test sizes: 512, 128, 2048, 64).
set -euo pipefail
cd "$(dirname "$0")/.."
M=${M:-build-gpu/mot}; G=${G:-/tmp/gm}; OUT=${OUT:-/tmp/out}
LAYERS=${LAYERS:-}; C_LAYERS=${C_LAYERS:-16}; BACKEND=${BACKEND:-cuda}; REPS=${REPS:-3}
NP=${NP:-512}; NG=${NG:-128}; NP_LONG=${NP_LONG:-2048}; NG_POOL=${NG_POOL:-64}
PY=${PY:-python3}
die() { echo "gpu-7b.sh: $*" >&2; exit 2; }

phase=${1:-all}
case "$phase" in make|expert|pool|all) ;; *) die "unknown phase '$phase' (make, expert, pool or all)";; esac
[ -x "$M" ] || die "$M: no mot binary (build it, or on the GPU machine run through .gpu/on-device.sh after pack.sh)"
"$PY" -c 'import torch, numpy' 2>/dev/null || die "$PY lacks torch or numpy (make_model.py's mistral-7b preset generates with torch)"
mkdir -p "$G" "$OUT" || die "cannot make $G or $OUT"
if [ "$BACKEND" = cuda ]; then
  command -v nvidia-smi > /dev/null && nvidia-smi -L > /dev/null 2>&1 || die "no GPU here (nvidia-smi -L fails): BACKEND=cpu to try the script without one"
fi
POOL=$G/pool7b; EXPERT=$POOL/experts/a
export MOT_PROGRESS=2   # every load and upload prints its summary line (GB, s, GB/s)
layers_flag=${LAYERS:+--layers $LAYERS}

make_models() {
  local need=$(( ${LAYERS:-32} * 440 + 1000 + C_LAYERS * 440 + 1000 ))   # MB, roughly
  local free_mb; free_mb=$(df -Pm "$G" | awk 'NR==2 {print $4}')
  [ "$free_mb" -gt "$need" ] || die "$G: ${free_mb} MB free, the pool needs ~${need} MB"
  local t0=$SECONDS
  # shellcheck disable=SC2086
  "$PY" tests/tools/make_7b_pool.py "$POOL" --mot "$M" $layers_flag --c-layers "$C_LAYERS" \
    || die "make_7b_pool.py failed"
  { echo "made $POOL in $((SECONDS - t0)) s on $(nproc) cores"; du -shL "$POOL"/experts/*; } | tee "$OUT/7b-make.txt"
}

need_models() {
  [ -f "$EXPERT/config.json" ] && [ -f "$POOL/pool.yaml" ] && [ -f "$POOL/pool.mot.safetensors" ] \
    || die "$POOL is not made: run 'bash scripts/gpu-7b.sh make' first"
}

bench() {  # bench LABEL ARGS...: one mot bench, its table and load lines into the results
  local label=$1; shift
  echo "== $label: mot bench $*"
  timeout 300 "$M" bench "$@" --backend "$BACKEND" 2>&1 | grep -vE '^\s*$' || echo "(exit ${PIPESTATUS[0]})"
}

run_expert() {
  need_models
  {
    echo "# 7B expert ($EXPERT, $(du -shL "$EXPERT" | cut -f1)), backend $BACKEND, $(date -u +%FT%TZ)"
    [ "$BACKEND" = cuda ] && nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
    bench "graphs" -m "$EXPERT" -p "$NP" -n "$NG" -r "$REPS"
    bench "no graphs" -m "$EXPERT" -p "$NP" -n "$NG" -r "$REPS" --no-graphs
    bench "pp$NP_LONG" -m "$EXPERT" -p "$NP_LONG" -n 0 -r "$REPS"
    if [ "$BACKEND" = cuda ]; then
      echo "== upload: staged pinned copies (default) against the driver's pageable path"
      for staged in 1 0 1 0; do
        echo "-- MOT_CUDA_STAGED=$staged"
        MOT_CUDA_STAGED=$staged timeout 120 "$M" bench -m "$EXPERT" -p 1 -n 1 -r 1 --backend cuda 2>&1 \
          | grep -E '^mot: (loaded|uploaded)' || echo "(failed)"
      done
    fi
  } 2>&1 | tee "$OUT/7b-expert.txt"
}

run_pool() {
  need_models
  {
    echo "# K=3 pool of 7B-shaped experts ($POOL/pool.yaml), backend $BACKEND, $(date -u +%FT%TZ)"
    head -12 "$POOL/pool.yaml"
    bench "pool" "$POOL/pool.yaml" -p "$NP" -n "$NG_POOL" -r "$REPS"
  } 2>&1 | tee "$OUT/7b-pool.txt"
}

case "$phase" in
  make) make_models ;;
  expert) run_expert ;;
  pool) run_pool ;;
  all) make_models; run_expert; run_pool ;;
esac

#!/usr/bin/env bash
# The MoT "small reproduction" end to end (docs/benchmarks.md, "Small reproduction"):
# data -> three frozen experts -> mot init --zero-reverse -> mot train -> mot eval per domain.
#
#   examples/mot_repro/run.sh [OUT_DIR] [STAGE...]      stages: data experts check init train eval table
#
# Needs: build/mot (cmake -S . -B build -DMOT_CUDA=OFF && cmake --build build --target mot),
# python3 with torch (Debian's python3-torch) and the `tokenizers` + `safetensors` packages
# (PY=... to choose the interpreter; on Debian 12: apt-get install python3-torch python3-venv, then
# python3 -m venv --system-site-packages V && V/bin/pip install tokenizers safetensors; PY=V/bin/python).
# Fixed seeds throughout; reruns give the same data and
# tokenizers (torch CPU training is deterministic on one machine/thread count).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
case "${1:-}" in -h | --help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;; -*) echo "run.sh: unknown option '$1' (see --help)" >&2; exit 2 ;; esac
OUT=${1:-$ROOT/build/mot_repro}
shift || true
STAGES=${*:-data experts check init train eval table}
PY=${PY:-python3}
MOT=${MOT:-$ROOT/build/mot}
THREADS=${THREADS:-2}
STEPS=${STEPS:-150}          # mot train steps
BATCH=${BATCH:-8}
LR=${LR:-1e-3}
EXPERT_STEPS=${EXPERT_STEPS:-160}
L_ROUTE=${L_ROUTE:-0}        # mot train --l-route (0: SPEC 5's loss; docs/training.md)
NAME=${NAME:-trained}        # the trained weights: NAME.safetensors, reports/NAME.*
mkdir -p "$OUT"
cd "$OUT"
has() { [[ " $STAGES " == *" $1 "* ]]; }

if has data; then
  nice "$PY" "$HERE/make_data.py" data --seed 0
fi

if has experts; then
  # three experts: different widths, depths, heads, KV heads, vocabularies and tokenizers;
  # trained side by side, one thread each (log in experts/NAME.log)
  mkdir -p experts
  nice "$PY" "$HERE/train_expert.py" --text data/code.txt --out experts/code --tokenizer byte-level \
    --vocab 2048 --hidden 128 --layers 4 --heads 4 --kv-heads 2 --ffn 320 \
    --steps "$EXPERT_STEPS" --batch 16 --seq 128 --lr 3e-3 --seed 1 --threads 1 > experts/code.log 2>&1 &
  nice "$PY" "$HERE/train_expert.py" --text data/math.txt --out experts/math --tokenizer byte-level-digits \
    --vocab 512 --hidden 96 --layers 4 --heads 6 --kv-heads 2 --ffn 256 --tie \
    --steps "$EXPERT_STEPS" --batch 16 --seq 128 --lr 3e-3 --seed 2 --threads 1 > experts/math.log 2>&1 &
  nice "$PY" "$HERE/train_expert.py" --text data/prose.txt --out experts/prose --tokenizer metaspace \
    --vocab 1280 --hidden 144 --layers 3 --heads 4 --kv-heads 4 --ffn 384 --tie \
    --steps "$EXPERT_STEPS" --batch 16 --seq 128 --lr 3e-3 --seed 3 --threads 1 > experts/prose.log 2>&1 &
  fail=0
  for j in $(jobs -p); do wait "$j" || fail=1; done
  tail -n 2 experts/*.log
  [ "$fail" = 0 ] || { echo "expert training failed (experts/*.log)"; exit 1; }
fi

if has check; then
  # mot loads each expert, its logits equal the PyTorch model's, and it writes domain text
  for e in code math prose; do
    nice "$PY" "$HERE/check_expert.py" "$MOT" "experts/$e" data/${e}_eval.jsonl
  done
fi

cp "$HERE/repro.yaml" repro.yaml
if has init; then
  nice "$MOT" init repro.yaml --seed 0 --zero-reverse -o init.safetensors --force
fi

if has train; then
  # --eval: the first 90 lines of mix_eval (30 per domain), watched only, no model selection
  head -n 90 data/mix_eval.jsonl > data/mix_val.jsonl
  nice "$MOT" train repro.yaml --data data/mix_train.jsonl --eval data/mix_val.jsonl \
    --init init.safetensors -o "$NAME.safetensors" --steps "$STEPS" --batch "$BATCH" --lr "$LR" \
    --l-route "$L_ROUTE" --warmup $((STEPS / 10)) --seed 0 --eval-every $((STEPS / 3)) -t "$THREADS" \
    --force 2>&1 | tee "$NAME.train.log"
fi

if has eval; then
  # one mot eval per weights file and domain, the three domains side by side (one thread each);
  # the mixture's figures are the union of the three (table.py), not a fourth run
  mkdir -p reports
  for w in init "$NAME"; do
    for d in code math prose; do
      nice "$MOT" eval repro.yaml --data data/${d}_eval.jsonl --weights $w.safetensors \
        -o reports/$w.$d.json -t 1 --force > reports/$w.$d.md 2> reports/$w.$d.err &
    done
    fail=0
    for j in $(jobs -p); do wait "$j" || fail=1; done
    [ "$fail" = 0 ] || { cat reports/$w.*.err; exit 1; }
    for d in code math prose; do echo "== $w $d"; cat reports/$w.$d.md; done
  done
fi

if has table; then
  "$PY" "$HERE/table.py" reports "$NAME" > "$NAME.table.md"
  cat "$NAME.table.md"
fi

#!/usr/bin/env bash
# The first thing to run when a GPU is lent (a session gets ~15 minutes of device time, the
# start included): every GPU check that has never run on hardware, most telling first, each
# stage time-boxed so that the whole fits one on-device.sh command (500 s) and a cut-off
# run still brings back the stages before it.
#
#   here:   ../shared/gpu/pack.sh
#   there:  bash .gpu/on-device.sh 'bash scripts/gpu-check.sh'         (run tool: timeout_s 600)
#
# Each stage writes $OUT/check-N-NAME.log; $OUT/check.md gets one line per stage (exit code,
# seconds, the log's last summary line). Stages:
#   1 info       nvidia-smi, nproc
#   2 kernels    ctest -R ^cuda_ (the op, GEMV, quantized, backward and plan kernels against
#                the CPU: the base everything else stands on)
#   3 suites     ctest -L gpu minus stage 2: the reference suites on CUDA (e2e, mot_e2e, GGUF,
#                training gradients), each to its SPEC 1.7 bound
#   4 sanitizer  compute-sanitizer memcheck over the GEMV, quantized and backward kernel tests
#   5 bench      mot bench decode/prefill, SmolLM-135M- and TinyLlama-1.1B-shaped bf16, with the
#                fused decode ops (fuse: on, the default) and without (a schedule of fuse: off)
#   6 train      tests/train/bench_train.py --backend cuda: mot train against PyTorch CUDA eager
#   7 quant      mot bench on a SmolLM-135M-shaped Q4_0 GGUF (tests/tools/make_gguf.py; needs the
#                gguf Python package): fused decode ops on and off (the quantized fused GEMV),
#                and precision fast (prefill on bf16 tiles and the tensor cores)
# STAGES="2 3" (say) runs only those; the caps below are seconds.
set -u
cd "$(dirname "$0")/.."
O=${OUT:-/tmp/out}; mkdir -p "$O"
M=${M:-build-gpu/mot}; B=${BUILD:-build-gpu}; G=${G:-/tmp/gm}; mkdir -p "$G"
PY=${PY:-python3}
STAGES=${STAGES:-"1 2 3 4 5 6 7"}
BACKEND=${BACKEND:-cuda}  # BACKEND=cpu M=build/mot MODELS=smol: a dry run of stages 5-6 here
MODELS=${MODELS:-"smol tl"}
J=$(nproc)
summary="$O/check.md"
echo "| stage | exit | seconds | last line |" > "$summary"
echo "| --- | ---: | ---: | --- |" >> "$summary"

stage() {  # stage N NAME CAP COMMAND: runs COMMAND under `timeout CAP`, logs, one summary line
  local n=$1 name=$2 cap=$3; shift 3
  case " $STAGES " in *" $n "*) ;; *) return 0 ;; esac
  local log="$O/check-$n-$name.log" t0=$SECONDS
  echo "\$ $*" > "$log"
  timeout "$cap" bash -c "$*" >> "$log" 2>&1
  local rc=$?
  local last
  last=$(grep -E 'tests passed|ERROR SUMMARY|^\| |FAIL|error' "$log" | tail -1 | tr '|' '/' | cut -c1-160)
  echo "| $n $name | $rc$([ $rc = 124 ] && echo ' (cut at '"$cap"' s)') | $((SECONDS - t0)) | $last |" >> "$summary"
  echo "stage $n $name: exit $rc, $((SECONDS - t0)) s"
}

stage 1 info 15 "nvidia-smi --query-gpu=name,memory.total,clocks.max.sm,clocks.max.mem --format=csv; nproc"
stage 2 kernels 100 "ctest --test-dir $B -R '^cuda_' -LE emu -j4 --timeout 90 --output-on-failure"
stage 3 suites 190 "ctest --test-dir $B -L gpu -E '^cuda_' -j$J --timeout 150 --output-on-failure"
stage 4 sanitizer 60 "for t in test_cuda_gemv test_cuda_backward; do compute-sanitizer --tool memcheck $B/\$t 2>&1 | tail -2; done"

shape() {  # a random-weight HF folder in $G/NAME (once)
  [ -f "$G/$1/config.json" ] || $PY tests/tools/make_model.py "$G/$1" --preset "$2" --dtype "$3" --seed 1 > /dev/null
}
export -f shape; export G PY M BACKEND
printf 'fuse: off\n' > "$G/unfused.yaml"
stage 5 bench 80 "shape smol smollm-135m bf16 & { [[ '$MODELS' != *tl* ]] || shape tl tinyllama-1.1b bf16; } & wait
  for m in $MODELS; do for s in '' '--schedule $G/unfused.yaml'; do
    echo \"== \$m \$s\"; timeout 25 $M bench -m $G/\$m -p 512 -n 128 -r 2 --backend $BACKEND \$s 2>&1 | grep -E '^\| |decode|bandwidth'
  done; done"
stage 6 train 45 "$PY tests/train/bench_train.py --mot $M --work /tmp/bt --pool test --scenario norm_bias --steps 4 --reps 1 --backend $BACKEND 2>&1 | tail -3"
# last, so that a run cut at on-device.sh's 500 s loses only this one
stage 7 quant 50 "shape smol smollm-135m bf16; $PY -c 'import gguf' 2>/dev/null || { echo 'no gguf Python package here: skipped'; exit 0; }
  [ -f $G/smol-q4_0.gguf ] || $PY tests/tools/make_gguf.py $G/smol $G/smol-q4_0.gguf --type Q4_0 > /dev/null
  for s in '' '--schedule $G/unfused.yaml' '--precision fast'; do
    echo \"== smol Q4_0 \$s\"; timeout 12 $M bench -m $G/smol-q4_0.gguf -p 512 -n 128 -r 2 --backend $BACKEND \$s 2>&1 | grep -E '^\| |decode|bandwidth'
  done"
cat "$summary"

#!/usr/bin/env bash
# Builds the CUDA kernels (kernels/cuda) for the CPU emulation and runs the GPU tests against
# them. See README.md.
#   tests/tools/cuda_emu/run.sh                 build, then run every test
#   tests/tools/cuda_emu/run.sh build           build only
#   tests/tools/cuda_emu/run.sh cuda_backward ops.backend.cuda ...   build, run those
#   tests/tools/cuda_emu/run.sh module          build OUT/libmot-cuda.so (the kernels for mot itself)
#   tests/tools/cuda_emu/run.sh suites [-R RE] [-E RE]   the module, then mot's GPU ctest suites
#                                               (labels gpu|cuda, python drivers) on it; BUILD (build)
# Environment: JOBS (2), OUT (build-emu), EMU_REVERSE=1 (threads and blocks in reverse order),
# EMU_POISON=0 (cudaMalloc memory not filled with 0xff), EMU_STACK_KB (256), CXXFLAGS_EMU,
# EMU_LIBMOT (a libmot.a already built, used as is: ctest's cuda_emu.kernels passes build/'s),
# EMU_SKIP_ON_GPU=1 (exit 77 where an NVIDIA device is present: ctest sets it).
set -uo pipefail
ROOT="$(cd "$(dirname "$0")/../../.." && pwd)"
cd "$ROOT"
HERE=tests/tools/cuda_emu
if [ "${EMU_ASAN:-0}" = 1 ]; then OUT="${OUT:-build-emu-asan}"; else OUT="${OUT:-build-emu}"; fi
JOBS="${JOBS:-2}"
CUDA_INC="${CUDA_INC:-/usr/local/cuda/include}"
CPU_BUILD="${CPU_BUILD:-build-emu/cpu}"
SRC="$OUT/src"
OBJ="$OUT/obj"
BIN="$OUT/bin"
mkdir -p "$SRC" "$OBJ" "$BIN" "$(dirname "$CPU_BUILD")"
MODE=tests
case "${1:-}" in build) MODE=build ;; module) MODE=module ;; suites) MODE=suites; shift ;; esac

log() { echo "cuda_emu: $*" >&2; }

# Under ctest (cuda_emu.*, EMU_SKIP_ON_GPU=1): where an NVIDIA device is present the same tests
# run on it for real, so the emulation is skipped (77), not run for minutes beside them.
if [ "${EMU_SKIP_ON_GPU:-0}" = 1 ] && compgen -G '/dev/nvidia[0-9]*' >/dev/null; then
    log "an NVIDIA device is present: the real kernels run instead (skipped)"
    exit 77
fi

# 1. libmot (the CPU side), as the normal build makes it, without the CUDA backend (for the test
#    programs; the module's mot_* references resolve against the mot executable instead).
if [ "$MODE" = module ] || [ "$MODE" = suites ]; then
    :
elif [ -n "${EMU_LIBMOT:-}" ]; then
    [ -f "$EMU_LIBMOT" ] || { log "EMU_LIBMOT=$EMU_LIBMOT: no such file"; exit 1; }
    CPU_BUILD="$(dirname "$EMU_LIBMOT")"
elif [ ! -f "$CPU_BUILD/libmot.a" ] || [ -n "$(find common model tokenizer ops kernels/cpu runtime graph scheduler executor profiling train include -newer "$CPU_BUILD/libmot.a" -name '*.[ch]' -print -quit)" ]; then
    log "building libmot (cmake, -DMOT_CUDA=OFF) in $CPU_BUILD"
    nice cmake -S . -B "$CPU_BUILD" -DMOT_CUDA=OFF -DCMAKE_BUILD_TYPE=Release >/dev/null || exit 1
    nice cmake --build "$CPU_BUILD" --target motlib -j"$JOBS" >"$OUT/cpu-build.log" 2>&1 || { tail -30 "$OUT/cpu-build.log"; exit 1; }
fi

# 2. the rewritten CUDA sources
python3 "$HERE/rewrite.py" . "$SRC" $(ls kernels/cuda/*.cu kernels/cuda/*.cuh) "$HERE/selftest.cu" || exit 1

CXX="${CXX:-g++}"
CC="${CC:-gcc}"
CXXFLAGS=(-std=c++17 -O1 -g -fPIC -fno-omit-frame-pointer -include "$HERE/emu.h" -I"$SRC" -I. -Iinclude -I"$CUDA_INC"
          -D_GNU_SOURCE -DMOT_VERSION_STRING='"emu"' -DMOT_CUDA_EMU=1 -Wno-attributes -w ${CXXFLAGS_EMU:-})
LDFLAGS_EMU=()
if [ "${EMU_ASAN:-0}" = 1 ]; then
    CXXFLAGS+=(-fsanitize=address)
    LDFLAGS_EMU=(-fsanitize=address)
    export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=0:abort_on_error=0}"
fi
CFLAGS=(-std=gnu11 -O1 -g -I. -Iinclude -I"$CUDA_INC" -D_GNU_SOURCE -DMOT_VERSION_STRING='"emu"' -mavx2 -mfma -mf16c -w)

# newer(target, deps...): whether target must be rebuilt
newer() { local t=$1; shift; [ ! -f "$t" ] && return 0; for d in "$@"; do [ "$d" -nt "$t" ] && return 0; done; return 1; }
# objects made with other flags are made again
if [ "$(cat "$OBJ/flags" 2>/dev/null)" != "${CXXFLAGS[*]} ${CFLAGS[*]}" ]; then
    rm -f "$OBJ"/*.o "$OBJ"/*.o.x
    echo "${CXXFLAGS[*]} ${CFLAGS[*]}" >"$OBJ/flags"
fi

compile_jobs=()
deps_h=("$HERE/emu.h" $(ls "$SRC"/kernels/cuda/*.cuh) $(ls kernels/cuda/*.h))
for f in "$SRC"/kernels/cuda/*.cu; do
    o="$OBJ/$(basename "$f" .cu).o"
    if newer "$o" "$f" "${deps_h[@]}"; then compile_jobs+=("nice $CXX ${CXXFLAGS[*]@Q} -x c++ -c ${f@Q} -o ${o@Q}"); fi
done
o="$OBJ/selftest.o.x"
if [ "$MODE" != module ] && [ "$MODE" != suites ] && newer "$o" "$SRC/$HERE/selftest.cu" "$HERE/emu.h"; then
    compile_jobs+=("nice $CXX ${CXXFLAGS[*]@Q} -x c++ -c $SRC/$HERE/selftest.cu -o ${o@Q}")
fi
o="$OBJ/emu_runtime.o"
if newer "$o" "$HERE/emu_runtime.cpp" "$HERE/emu.h"; then
    compile_jobs+=("nice $CXX ${CXXFLAGS[*]@Q} -O2 -c $HERE/emu_runtime.cpp -o ${o@Q}")
fi
[ "$MODE" = module ] || [ "$MODE" = suites ] || for c in tests/cuda/test_cuda_backward.c tests/cuda/test_cuda_gemv.c tests/cuda/test_cuda_ops.c \
         tests/cuda/test_cuda_plan_ops.c tests/cuda/test_cuda_sample.c tests/cuda/test_cuda_quant.c \
         tests/cuda/gpu_fixture.c tests/ops/quant_blocks.c tests/ops/test_backend_ops.c tests/ops/backend_ops_cuda.c; do
    o="$OBJ/c_$(basename "$c" .c).o"
    if newer "$o" "$c" $(ls tests/cuda/*.h tests/ops/*.h kernels/cuda/*.h); then
        compile_jobs+=("nice $CC ${CFLAGS[*]@Q} -c ${c@Q} -o ${o@Q}")
    fi
done
if [ ${#compile_jobs[@]} -gt 0 ]; then
    log "compiling ${#compile_jobs[@]} files (-j$JOBS)"
    if ! printf '%s\0' "${compile_jobs[@]}" | xargs -0 -P "$JOBS" -I{} bash -c '{} 2>&1' >"$OUT/compile.log" 2>&1; then
        grep -B2 -A6 "error" "$OUT/compile.log" | head -80; exit 1
    fi
fi
KOBJS=($(ls "$OBJ"/*.o | grep -v "/c_"))

# The module: what cmake/cuda.cmake makes of kernels/cuda (libmot-cuda.so, loaded by mot on
# --backend cuda, executor/cuda_module.c), with the emulated runtime and cuBLAS inside. Its
# mot_* references stay undefined: they resolve against the mot executable, as the real one's.
if [ "$MODE" = module ] || [ "$MODE" = suites ]; then
    if newer "$OUT/libmot-cuda.so" "${KOBJS[@]}"; then
        nice "$CXX" "${LDFLAGS_EMU[@]}" -shared -o "$OUT/libmot-cuda.so" "${KOBJS[@]}" -lpthread || exit 1
    fi
    log "module: $OUT/libmot-cuda.so"
    [ "$MODE" = module ] && exit 0
    # 4. mot's GPU suites on it (suites.py: which tests, their timeouts, the logs)
    exec python3 "$HERE/suites.py" --build "${BUILD:-build}" --module "$(realpath "$OUT/libmot-cuda.so")" \
        --logs "$OUT/logs-suites${EMU_REVERSE:+-reverse}" "$@"
fi

rm -f "$OBJ/libmotcuda_emu.a"
ar rcs "$OBJ/libmotcuda_emu.a" "${KOBJS[@]}" || exit 1

LIBS=("$OBJ/libmotcuda_emu.a" "$CPU_BUILD/libmot.a" -fopenmp -ljansson -lpcre2-8 -lyaml -lopenblas -lm -ldl -lpthread)
link() { # name objs...
    local name=$1; shift
    local out="$BIN/$name"
    if newer "$out" "$@" "$OBJ/libmotcuda_emu.a" "$CPU_BUILD/libmot.a"; then
        nice g++ "${LDFLAGS_EMU[@]}" -o "$out" "$@" "${LIBS[@]}" || exit 1
    fi
}
nice g++ "${LDFLAGS_EMU[@]}" -o "$BIN/selftest" "$OBJ/selftest.o.x" "$OBJ/emu_runtime.o" || exit 1
link test_cuda_backward "$OBJ/c_test_cuda_backward.o"
link test_cuda_gemv "$OBJ/c_test_cuda_gemv.o" "$OBJ/c_gpu_fixture.o" "$OBJ/c_quant_blocks.o"
link test_cuda_ops "$OBJ/c_test_cuda_ops.o" "$OBJ/c_gpu_fixture.o"
for t in test_cuda_plan_ops test_cuda_sample test_cuda_quant; do
    link $t "$OBJ/c_$t.o" "$OBJ/c_gpu_fixture.o" "$OBJ/c_quant_blocks.o"
done
link test_backend_ops_cuda "$OBJ/c_test_backend_ops.o" "$OBJ/c_backend_ops_cuda.o"

[ "${1:-}" = build ] && exit 0

# 3. the tests (ctest names -> programs, as tests/cuda/tests.cmake)
declare -A PROG=([selftest]=selftest [cuda_backward]=test_cuda_backward [cuda_gemv]=test_cuda_gemv [cuda_ops]=test_cuda_ops
                 [cuda_plan_ops]=test_cuda_plan_ops [cuda_plan_ops_combine_kernel]=test_cuda_plan_ops
                 [cuda_sample]=test_cuda_sample [cuda_quant]=test_cuda_quant [ops.backend.cuda]=test_backend_ops_cuda)
ORDER=(selftest cuda_backward ops.backend.cuda cuda_gemv cuda_quant cuda_ops cuda_plan_ops cuda_plan_ops_combine_kernel cuda_sample)
[ $# -gt 0 ] && ORDER=("$@")
LOGS="$OUT/logs${EMU_REVERSE:+-reverse}"
mkdir -p "$LOGS"
fails=0
for t in "${ORDER[@]}"; do
    p="${PROG[$t]:-}"
    [ -z "$p" ] && { log "unknown test $t"; fails=$((fails + 1)); continue; }
    envs=()
    [ "$t" = cuda_plan_ops_combine_kernel ] && envs=(MOT_CUDA_ATTENTION_COMBINE=kernel)
    start=$(date +%s)
    env "${envs[@]}" timeout "${EMU_TIMEOUT:-1800}" "$BIN/$p" >"$LOGS/$t.log" 2>&1
    rc=$?
    secs=$(( $(date +%s) - start ))
    nfail=$(grep -c "FAIL" "$LOGS/$t.log")
    nrep=$(grep -c "^EMU-REPORT" "$LOGS/$t.log")
    crash=$(grep -c "^EMU-CRASH\|ERROR: AddressSanitizer" "$LOGS/$t.log")
    status=PASS
    { [ $rc -ne 0 ] || [ "$nfail" -gt 0 ] || [ "$crash" -gt 0 ]; } && status=FAIL
    [ "$status" = FAIL ] && fails=$((fails + 1))
    printf '%-32s %s  rc=%d  FAIL-lines=%d  EMU-REPORT-lines=%d  %ds  (log %s)\n' "$t" "$status" $rc "$nfail" "$nrep" "$secs" "$LOGS/$t.log"
done
exit $((fails > 0))

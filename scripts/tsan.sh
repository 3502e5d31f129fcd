#!/usr/bin/env bash
# ThreadSanitizer over the CPU executor's lanes run side by side (--lanes concurrent): builds
# build-tsan (MOT_SANITIZE=thread, clang with libomp: LLVM's archer tool, libarcher.so, tells
# TSan about OpenMP's barriers; GCC's libgomp would report its own synchronization as races),
# makes the K=3 and K=2 test pools, then runs, failing on any report:
#   - test_scheduler (serial vs concurrent lanes, bitwise; the plan cache; the CUDA fake);
#   - mot run on both pools, lanes concurrent at 2, 3, 4 and 6 threads, and serial at 4;
#   - mot bench on the K=3 pool, lanes concurrent, 4 threads;
#   - the soak program, 200 requests (half of them concurrent).
# Takes a few minutes on 2 cores. scripts/test.sh --tsan runs it after the other suites.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v clang >/dev/null || { echo "tsan.sh: needs clang and libomp-dev (apt-get install clang libomp-dev)" >&2; exit 2; }
CC=clang cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_FLAGS_RELWITHDEBINFO="-O1 -g" \
  -DMOT_CUDA=OFF -DMOT_SANITIZE=thread >/dev/null
cmake --build build-tsan -j"$(nproc)" --target mot test_scheduler soak
archer="$(grep '^MOT_ARCHER:' build-tsan/CMakeCache.txt | cut -d= -f2)"
if [[ -z "$archer" || "$archer" == *NOTFOUND ]]; then
  echo "tsan.sh: libarcher.so not found (libomp-dev); OpenMP's own synchronization would read as races" >&2
  exit 2
fi
export OMP_TOOL_LIBRARIES="$archer"
export TSAN_OPTIONS="ignore_noninstrumented_modules=1:halt_on_error=0:second_deadlock_stack=1:exitcode=66"
pool=build-tsan/sched-pool
for scenario in hetero3_k3 hetero3; do
  /usr/bin/python3 tests/tools/make_mot_pool.py --scenario "$scenario" --weights python "$pool" >/dev/null
done
failed=0
check() { # NAME COMMAND...: runs it, its output in build-tsan/tsan-NAME.log
  local name="$1" log="build-tsan/tsan-$1.log"
  shift
  local rc=0
  "$@" >"$log" 2>&1 || rc=$?
  if ((rc == 0)); then
    echo "ok   $name"
  else
    failed=1
    echo "FAIL $name (exit $rc): $(grep -c 'WARNING: ThreadSanitizer' "$log") reports, see $log"
    grep -A3 'WARNING: ThreadSanitizer' "$log" | head -20
  fi
}
check test_scheduler build-tsan/test_scheduler "$pool/hetero3_k3.yaml"
prompt="The quick brown fox jumps over the lazy dog, then naps in the sun."
for p in hetero3_k3 hetero3; do
  for t in 2 3 4 6; do
    check "run-$p-concurrent-t$t" build-tsan/mot run "$pool/$p.yaml" -p "$prompt" -n 8 -t "$t" --lanes concurrent
  done
  check "run-$p-serial-t4" build-tsan/mot run "$pool/$p.yaml" -p "$prompt" -n 8 -t 4 --lanes serial
done
check bench-hetero3_k3-concurrent-t4 build-tsan/mot bench "$pool/hetero3_k3.yaml" -p 16 -n 8 -r 2 -t 4 --lanes concurrent
check soak build-tsan/soak "$pool/hetero3.yaml" 200 20 60 -1
# mot serve: connection threads, the job queue and the model thread (a report makes the server
# exit 66 at SIGTERM, which the test fails on)
check serve /usr/bin/python3 tests/cli/test_serve.py build-tsan/mot build-tsan/cli-serve
if ((failed)); then
  echo "tsan.sh: ThreadSanitizer reports (or failures) above"
  exit 1
fi
echo "tsan.sh: no ThreadSanitizer reports"

#!/usr/bin/env bash
# The suite under ASan + UBSan (+ LSan): builds build-asan (MOT_SANITIZE=address, -O1 -g, no
# CUDA: ASan and the CUDA runtime do not mix) and runs ctest there, less the fuzz label (the
# fuzz targets are sanitized builds of their own). Any report fails the test that made it.
# scripts/test.sh runs it after the normal suite; extra arguments go to ctest.
# Not run here: the peak-RSS tests (cli_peak_rss, gguf_smollm2_rss: ASan's shadow and
# quarantine count as RSS); the soak runs 1,000 requests and does not judge RSS.
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_FLAGS_RELWITHDEBINFO="-O1 -g" \
  -DMOT_CUDA=OFF -DMOT_SANITIZE=address >/dev/null
cmake --build build-asan -j"$(nproc)"
cd build-asan
# The tests carry ASAN_OPTIONS/UBSAN_OPTIONS themselves (CMakeLists.txt); these cover anything
# run by hand from this shell.
export ASAN_OPTIONS="${ASAN_OPTIONS:-halt_on_error=1:detect_leaks=1:abort_on_error=0:print_stacktrace=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}"
ctest --output-on-failure -j"$(nproc)" -LE fuzz "$@"

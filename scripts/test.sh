#!/usr/bin/env bash
# The tests: installs dependencies (incl. the PyTorch and HF tokenizers oracles), builds mot
# (the CUDA backend too when nvcc is present) and runs every test with ctest; then the same
# suite under ASan + UBSan (scripts/sanitize.sh, build-asan/). CI runs exactly this.
#   scripts/test.sh [--no-sanitize] [--tsan] [CTEST ARGS...]
#     --no-sanitize   the normal suite only (the sanitized one adds ~3-4 min on 2 cores)
#     --sanitize      the default: both suites
#     --tsan          also ThreadSanitizer over the concurrent CPU lanes (scripts/tsan.sh)
# CTEST ARGS (e.g. -R scheduler) go to both ctest runs.
set -euo pipefail
cd "$(dirname "$0")/.."
sanitize=1
tsan=0
while (($#)); do
  case "$1" in
    --sanitize) sanitize=1 ;;
    --no-sanitize) sanitize=0 ;;
    --tsan) tsan=1 ;;
    *) break ;;
  esac
  shift
done
scripts/install-deps.sh --test
scripts/build.sh
(cd build && ctest --output-on-failure -j"$(nproc)" "$@")
if ((sanitize)); then
  echo "test.sh: the suite again under ASan + UBSan (build-asan/)"
  scripts/sanitize.sh "$@"
fi
if ((tsan)); then
  echo "test.sh: ThreadSanitizer over the concurrent CPU lanes (build-tsan/)"
  scripts/tsan.sh
fi

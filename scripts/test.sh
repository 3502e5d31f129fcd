#!/usr/bin/env bash
# The tests: installs dependencies (incl. the PyTorch and HF tokenizers oracles), builds mot
# (the CUDA backend too when nvcc is present) and runs every test with ctest.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh --test
scripts/build.sh
cd build
ctest --output-on-failure -j"$(nproc)" "$@"

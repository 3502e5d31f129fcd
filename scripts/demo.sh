#!/usr/bin/env bash
# The demo: installs dependencies, builds mot, generates a small random-weight Llama checkpoint
# in the real Hugging Face layout (models/demo, made once) and generates text from it.
# Random weights give random text: the point is the whole path working end to end.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
/usr/bin/python3 tests/tools/make_model.py models/demo --preset tiny --dtype bf16 --seed 1
echo "== mot run -m models/demo (random weights, so random text) =="
build/mot run -m models/demo -p "The quick brown fox" -n 48 --temp 0.8 --seed 42 "$@"
echo "== mot bench -m models/demo =="
build/mot bench -m models/demo -p 64 -n 32 -r 3

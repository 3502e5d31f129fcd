#!/usr/bin/env bash
# The demo: installs dependencies, builds mot, makes the demo pool on first use (three small
# random-weight Hugging Face checkpoints that differ in hidden size, depth, tokenizer style and
# dtype, plus random MoT weights) and runs MoT on it: the route, then the primary's text.
# Random weights give random text: the point is the whole path working end to end.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
make_model="/usr/bin/python3 tests/tools/make_model.py"
$make_model models/demo/math --preset tiny --hidden 64 --layers 4 --dtype f32 --tokenizer byte-level --seed 11 >/dev/null
$make_model models/demo/code --preset tiny-gqa --hidden 96 --layers 6 --dtype bf16 --tokenizer sentencepiece --seed 12 >/dev/null
$make_model models/demo/chat --preset tiny --hidden 128 --layers 3 --dtype f16 --tokenizer byte-level --seed 13 >/dev/null
[[ -f models/demo/demo.mot.safetensors ]] || build/mot init pipelines/demo.yaml --seed 7 >/dev/null
prompt="${1:-Explain why the sky is blue.}"
echo "== mot route pipelines/demo.yaml =="
build/mot route pipelines/demo.yaml -p "$prompt"
echo "== mot run pipelines/demo.yaml (random weights, so random text) =="
build/mot run pipelines/demo.yaml -p "$prompt"

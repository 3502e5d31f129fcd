#!/usr/bin/env bash
# Installs what mot needs to build and test on Debian (run as root, or with sudo available).
#   scripts/install-deps.sh          build + demo dependencies
#   scripts/install-deps.sh --test   also the test oracles (PyTorch, HF tokenizers, gguf, Jinja), clang's
#                                    libFuzzer for the short fuzz runs, libomp for
#                                    scripts/tsan.sh, and the real model the GGUF tests use (scripts/fetch-models.sh)
set -euo pipefail

packages=(build-essential cmake pkg-config libyaml-dev libjansson-dev libpcre2-dev libmicrohttpd-dev libopenblas-dev
          python3 python3-numpy python3-pip)
if [[ "${1:-}" == "--test" ]]; then
  packages+=(python3-torch python3-jinja2 clang libclang-rt-dev libomp-dev)
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  sudo=""
  [[ $(id -u) -ne 0 ]] && sudo="sudo"
  echo "install-deps: installing ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [[ "${1:-}" == "--test" ]]; then
  # HF tokenizers is the oracle for our tokenizer tests (PyPI; Debian has no package for it).
  if ! /usr/bin/python3 -c "import tokenizers" 2>/dev/null; then
    echo "install-deps: installing the tokenizers wheel for /usr/bin/python3"
    /usr/bin/python3 -m pip install -q --break-system-packages --root-user-action=ignore tokenizers
  fi
  # gguf (llama.cpp's Python package) reads, writes and dequantizes GGUF files for the tests.
  if ! /usr/bin/python3 -c "import gguf" 2>/dev/null; then
    echo "install-deps: installing the gguf wheel for /usr/bin/python3"
    /usr/bin/python3 -m pip install -q --break-system-packages --root-user-action=ignore "gguf==0.19.0"
  fi
  # The openai package: the client users point at mot serve (tests/cli/test_serve.py talks to it).
  if ! /usr/bin/python3 -c "import openai" 2>/dev/null; then
    echo "install-deps: installing the openai wheel for /usr/bin/python3"
    /usr/bin/python3 -m pip install -q --break-system-packages --root-user-action=ignore openai
  fi
  # The real model for the GGUF tests; offline, those tests skip instead of failing.
  "$(dirname "$0")/fetch-models.sh" || echo "install-deps: no real model; its GGUF tests will be skipped"
fi

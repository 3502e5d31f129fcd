#!/usr/bin/env bash
# libFuzzer runs of mot's parsers (clang, ASan + UBSan), for CI (short) and by hand (long).
#   scripts/fuzz.sh TARGET [SECONDS]      TARGET: gguf
# Builds build-fuzz/fuzz_TARGET from tests/fuzz/fuzz_TARGET.c and the sources it needs, seeds
# build-fuzz/corpus-TARGET from the test tools, and runs for SECONDS (default 30). A crash,
# leak or sanitizer report ends the run non-zero with the reproducer in build-fuzz/.
set -euo pipefail
cd "$(dirname "$0")/.."
target="${1:?usage: scripts/fuzz.sh gguf [SECONDS]}"
seconds="${2:-30}"
out=build-fuzz
mkdir -p "$out" "$out/corpus-$target"
flags=(-g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -D_GNU_SOURCE
       -DMOT_VERSION_STRING='"fuzz"' -I. -Iinclude -march=native)
case "$target" in
  gguf)
    clang "${flags[@]}" tests/fuzz/fuzz_gguf.c model/gguf_read.c model/gguf_meta.c common/*.c \
      $(pkg-config --cflags --libs jansson) -lm -o "$out/fuzz_gguf"
    cc -O1 -I. -Iinclude tests/fuzz/gguf_seed.c tests/loading/gguf_builder.c -o "$out/gguf_seed"
    "$out/gguf_seed" "$out/corpus-gguf"
    ;;
  *)
    echo "fuzz.sh: unknown target '$target' (known: gguf)" >&2
    exit 2
    ;;
esac
cd "$out"
"./fuzz_$target" -max_total_time="$seconds" -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 \
  "corpus-$target" 2>&1 | grep -Ev '^"|^###### |^INFO: ' | tail -30

#!/usr/bin/env bash
# libFuzzer runs of mot's parsers (clang, ASan + UBSan), for CI (short) and by hand (long).
#   scripts/fuzz.sh TARGET [SECONDS]    TARGET: gguf safetensors index config tokenizer pipeline
#                                               schedule kld openai, or all (each in turn)
# Builds build-fuzz/fuzz_TARGET from tests/fuzz/fuzz_TARGET.c and the sources it needs, seeds
# build-fuzz/corpus-TARGET from the test tools (tests/fuzz/make_seeds.py, gguf_seed.c), replays
# the reproducers of bugs found before (tests/fuzz/regressions/TARGET-*), and runs for SECONDS
# (default 30). A crash, leak, sanitizer report, timeout (10 s an input) or more than 2 GB
# ends the run non-zero with the reproducer in build-fuzz/ (or $MOT_FUZZ_OUT).
set -euo pipefail
cd "$(dirname "$0")/.."
targets="gguf safetensors index config tokenizer pipeline schedule kld openai"
target="${1:?usage: scripts/fuzz.sh TARGET|all [SECONDS]  (targets: $targets)}"
seconds="${2:-30}"
if [ "$target" = all ]; then  # every target even after one fails; fails if any did
  failed=""
  for t in $targets; do
    echo "== fuzz $t ($seconds s)"
    "$0" "$t" "$seconds" || failed="$failed $t"
  done
  [ -z "$failed" ] || { echo "fuzz.sh: failed:$failed" >&2; exit 1; }
  exit 0
fi
out="${MOT_FUZZ_OUT:-build-fuzz}"  # another folder lets a long run go beside the short ones
py=/usr/bin/python3  # the interpreter with numpy (tests/tools/make_model.py)
flags=(-g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -D_GNU_SOURCE
       -DMOT_VERSION_STRING='"fuzz"' -I. -Iinclude -march=native)
files=tests/fuzz/fuzz_files.c
st_srcs=(model/safetensors_read.c model/safetensors_set.c model/safetensors_dir.c)
gguf_srcs=(model/gguf_read.c model/gguf_meta.c)
graph_srcs=(graph/*.c tokenizer/chat_format.c)
jansson="$(pkg-config --cflags --libs jansson)"
pcre="$(pkg-config --cflags --libs libpcre2-8 2>/dev/null || echo -lpcre2-8)"
yaml="$(pkg-config --cflags --libs yaml-0.1 2>/dev/null || echo -lyaml)"
max_len=65536  # YAML and JSON texts; a deeper or longer input says nothing new
mkdir -p "$out"
build() { clang "${flags[@]}" "$@" common/*.c -lm -o "$out/fuzz_$target"; }
seed() { "$py" tests/fuzz/make_seeds.py "$target" "$out/corpus-$target" >/dev/null; }
case "$target" in
  gguf)
    mkdir -p "$out/corpus-$target"
    build tests/fuzz/fuzz_gguf.c $files "${gguf_srcs[@]}" $jansson
    cc -O1 -I. -Iinclude tests/fuzz/gguf_seed.c tests/loading/gguf_builder.c -o "$out/gguf_seed"
    "$out/gguf_seed" "$out/corpus-gguf"
    ;;
  kld)
    build tests/fuzz/fuzz_kld.c $files runtime/kl_divergence.c $jansson
    seed
    ;;
  openai)
    build tests/fuzz/fuzz_openai.c server/openai_request.c server/openai_response.c server/stop_strings.c \
      tokenizer/tok_buf.c tokenizer/utf8.c $jansson
    seed
    ;;
  safetensors | index)
    build tests/fuzz/fuzz_$target.c $files "${st_srcs[@]}" $jansson
    seed
    ;;
  config)
    build tests/fuzz/fuzz_config.c $files model/config*.c "${gguf_srcs[@]}" $jansson
    seed
    ;;
  tokenizer)
    build tests/fuzz/fuzz_tokenizer.c $files tokenizer/*.c "${gguf_srcs[@]}" $pcre $jansson
    seed
    ;;
  pipeline)
    build tests/fuzz/fuzz_pipeline.c tests/fuzz/pipeline_expand.c $files "${graph_srcs[@]}" $yaml $jansson
    seed
    # The expanded forms (a `graph:` section that checks out), from the compact seeds.
    cc -O1 -D_GNU_SOURCE -DMOT_VERSION_STRING='"fuzz"' -I. -Iinclude tests/fuzz/pipeline_seed.c \
      tests/fuzz/pipeline_expand.c "${graph_srcs[@]}" common/*.c $yaml $jansson -lm \
      -o "$out/pipeline_seed"
    "$out/pipeline_seed" "$out/corpus-pipeline"
    ;;
  schedule)
    build -fopenmp tests/fuzz/fuzz_schedule.c $files scheduler/schedule.c graph/yaml_tree.c graph/yaml_limits.c $yaml $jansson
    seed
    ;;
  *)
    echo "fuzz.sh: unknown target '$target' (known: $targets, all)" >&2
    exit 2
    ;;
esac
set +e  # from here the fuzzer's exit status is the script's
# A finding exits 1: libFuzzer's own 77 would read as "skipped" to ctest (SKIP_RETURN_CODE).
opts=(-timeout=10 -rss_limit_mb=2048 -max_len="$max_len" -error_exitcode=1 -timeout_exitcode=1)
regressions=(tests/fuzz/regressions/"$target"-*)
if [ -e "${regressions[0]}" ]; then
  echo "replaying ${#regressions[@]} regression input(s)"
  "$out/fuzz_$target" "${opts[@]}" "${regressions[@]}" 2>&1 | grep -Ev '^INFO: |^Running: |^Executed |^\*\*\*|inputs 1 time'
  [ "${PIPESTATUS[0]}" -eq 0 ] || exit 1
fi
cd "$out"
"./fuzz_$target" "${opts[@]}" -max_total_time="$seconds" -print_final_stats=1 \
  "corpus-$target" 2>&1 | grep -Ev '^"|^###### |^INFO: ' | tail -30
[ "${PIPESTATUS[0]}" -eq 0 ] || exit 1

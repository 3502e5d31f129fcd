/* libFuzzer target: a sharded checkpoint folder (model/safetensors_dir.c, safetensors_set.c):
 * model.safetensors.index.json and its shards. One input is the index, then each shard's
 * bytes after a separator line FUZZ_SHARD_SEP; shard i of n is written as
 * model-0000i-of-0000n.safetensors (Hugging Face's names, which the seeds' indexes use), so
 * the fuzzer mutates the weight_map and the shard headers it must agree with.
 * Build and run: scripts/fuzz.sh index SECONDS. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "model/safetensors.h"
#include "tests/fuzz/fuzz_files.h"
#include "tests/fuzz/fuzz_st_touch.h"

#define FUZZ_SHARD_SEP "\n--mot-fuzz-shard--\n" /* tests/fuzz/make_seeds.py writes it too */
#define MAX_SHARDS 4

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *dir = fuzz_dir("index");
    fuzz_part parts[1 + MAX_SHARDS];
    int n = fuzz_split(data, size, FUZZ_SHARD_SEP, strlen(FUZZ_SHARD_SEP), parts, 1 + MAX_SHARDS);
    char names[MAX_SHARDS][64];
    int ok = fuzz_write("model.safetensors.index.json", parts[0].data, parts[0].size) == 0;
    for (int i = 1; i < n; i++) {
        snprintf(names[i - 1], sizeof names[i - 1], "model-%05d-of-%05d.safetensors", i, n - 1);
        ok = ok && fuzz_write(names[i - 1], parts[i].data, parts[i].size) == 0;
    }
    mot_st_set *set = NULL;
    if (ok && mot_st_open_dir(dir, &set) == 0) {
        fuzz_st_touch(set);
    }
    mot_st_close(set);
    for (int i = 1; i < n; i++) {
        fuzz_remove(names[i - 1]); /* the next input may list fewer shards */
    }
    return 0;
}

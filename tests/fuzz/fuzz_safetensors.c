/* libFuzzer target: one safetensors file (model/safetensors_read.c: the 8-byte header length,
 * the JSON header, dtypes, shapes, data_offsets, overlaps). The input is the file; when it
 * opens, every tensor's bytes and its name lookup are touched (fuzz_st_touch.h).
 * Build and run: scripts/fuzz.sh safetensors SECONDS. */
#include <stddef.h>
#include <stdint.h>

#include "model/safetensors.h"
#include "tests/fuzz/fuzz_files.h"
#include "tests/fuzz/fuzz_st_touch.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_dir("safetensors");
    if (fuzz_write("model.safetensors", data, size) != 0) {
        return 0;
    }
    mot_st_set *set = NULL;
    if (mot_st_open_file(fuzz_path("model.safetensors"), &set) == 0) {
        fuzz_st_touch(set);
    }
    mot_st_close(set);
    return 0;
}

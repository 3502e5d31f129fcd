/* libFuzzer target: the GGUF reader (model/gguf_read.c, gguf_meta.c) on arbitrary bytes.
 * Each input is written to a file (fuzz_files.h) and opened whole and metadata-only; when it
 * opens, every tensor byte and the metadata a loader reads are touched, so a view past the
 * mapping or a bad array faults under ASan. Build and run: scripts/fuzz.sh gguf SECONDS. */
#include <stddef.h>
#include <stdint.h>

#include "model/gguf.h"
#include "tests/fuzz/fuzz_files.h"

static void touch(mot_gguf *g) {
    volatile unsigned char sink = 0;
    for (int i = 0; i < mot_gguf_tensor_count(g); i++) {
        const mot_tensor *t = mot_gguf_tensor_at(g, i);
        for (size_t b = 0; t->data && b < t->nbytes; b += 61) {
            sink ^= ((const unsigned char *)t->data)[b];
        }
        if (t->data && t->nbytes) {
            sink ^= ((const unsigned char *)t->data)[t->nbytes - 1];
        }
    }
    char *const *strs;
    const float *f;
    const int32_t *i32;
    int64_t n, v;
    const char *s;
    (void)mot_gguf_get_str_array(g, "tokenizer.ggml.tokens", &strs, &n);
    (void)mot_gguf_get_f32_array(g, "tokenizer.ggml.scores", &f, &n);
    (void)mot_gguf_get_i32_array(g, "tokenizer.ggml.token_type", &i32, &n);
    (void)mot_gguf_get_int(g, "llama.block_count", &v);
    (void)mot_gguf_get_str(g, "general.architecture", &s);
    (void)sink;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_dir("gguf");
    if (fuzz_write("model.gguf", data, size) != 0) {
        return 0;
    }
    const char *path = fuzz_path("model.gguf");
    mot_gguf *g = NULL;
    if (mot_gguf_open(path, &g) == 0) {
        touch(g);
    }
    mot_gguf_close(g);
    g = NULL;
    if (mot_gguf_open_meta(path, &g) == 0) {
        touch(g);
    }
    mot_gguf_close(g);
    return 0;
}
